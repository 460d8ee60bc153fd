"""Where each OAuth provider signs users in and hands out tokens, and which scopes SMTP needs.

Google and Microsoft are built in; ``custom`` takes its endpoints and scopes from the
settings. The redirect host is the loopback name the provider's registration expects
(RFC 8252 §7.3): Microsoft Entra matches ``http://localhost`` on any port, Google's
desktop clients accept the loopback IP literal. Either way we listen on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpdesk.core.settings import OAuthProvider, ServerSettings

GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_SCOPES = ("https://mail.google.com/",)
MICROSOFT_AUTHORIZE_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
MICROSOFT_SCOPES = ("https://outlook.office.com/SMTP.Send", "offline_access")


@dataclass(frozen=True)
class Endpoints:
    """Everything the sign-in and the token requests need to know about a provider."""

    provider: OAuthProvider
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    redirect_host: str = "127.0.0.1"
    # Extra authorization parameters: Google issues a refresh token only when asked.
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def title(self) -> str:
        return {"google": "Google", "microsoft": "Microsoft"}.get(
            self.provider, "the sign-in provider"
        )


def endpoints_for(settings: ServerSettings) -> Endpoints:
    """The endpoints of ``settings``' provider; its own scopes replace the built-in ones."""
    provider = settings.oauth_provider
    if provider == OAuthProvider.GOOGLE:
        return Endpoints(
            provider,
            settings.oauth_authorize_url or GOOGLE_AUTHORIZE_URL,
            settings.oauth_token_url or GOOGLE_TOKEN_URL,
            settings.oauth_scopes or GOOGLE_SCOPES,
            extra=(("access_type", "offline"), ("prompt", "consent")),
        )
    if provider == OAuthProvider.MICROSOFT:
        tenant = settings.oauth_tenant or "common"
        return Endpoints(
            provider,
            settings.oauth_authorize_url or MICROSOFT_AUTHORIZE_URL.format(tenant=tenant),
            settings.oauth_token_url or MICROSOFT_TOKEN_URL.format(tenant=tenant),
            settings.oauth_scopes or MICROSOFT_SCOPES,
            redirect_host="localhost",
        )
    return Endpoints(
        provider, settings.oauth_authorize_url, settings.oauth_token_url, settings.oauth_scopes
    )
