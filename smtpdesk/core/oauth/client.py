"""Token requests (RFC 6749 §4.1.3 and §6) with oauthlib, sent by urllib.

oauthlib builds the request bodies and parses the replies (raising its errors for an
``error`` reply); urllib is the whole HTTP client. The calls block: run them through
``asyncio.to_thread``. Nothing here logs or repeats a token.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from smtpdesk.core.oauth.errors import OAuthError, SignInRequiredError
from smtpdesk.core.oauth.providers import Endpoints
from smtpdesk.core.settings import OAuthProvider

TIMEOUT = 30.0
DEFAULT_LIFETIME = 3600.0  # seconds, when the reply has no expires_in


@dataclass(frozen=True)
class TokenReply:
    """A successful token reply. ``refresh_token`` is None when the provider kept the old one."""

    access_token: str
    expires_at: float  # time.time()
    refresh_token: str | None
    scope: str
    id_token: str | None

    def __repr__(self) -> str:  # a token must never reach a log through repr()
        return f"TokenReply(expires_at={self.expires_at:.0f}, scope={self.scope!r})"


def exchange_code(
    endpoints: Endpoints,
    client_id: str,
    client_secret: str | None,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    timeout: float = TIMEOUT,
) -> TokenReply:
    """Trade the authorization code (with the PKCE verifier) for tokens."""
    client = WebApplicationClient(client_id)
    body = client.prepare_request_body(
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        include_client_id=True,
        **_secret(client_secret),
    )
    return _request(client, endpoints, body, timeout, refreshing=False)


def refresh(
    endpoints: Endpoints,
    client_id: str,
    client_secret: str | None,
    refresh_token: str,
    *,
    timeout: float = TIMEOUT,
) -> TokenReply:
    """A new access token; raise :class:`SignInRequiredError` when the grant is gone."""
    client = WebApplicationClient(client_id)
    # Microsoft wants the scopes again (v2.0 endpoint); Google keeps the granted ones.
    scopes = None if endpoints.provider == OAuthProvider.GOOGLE else list(endpoints.scopes)
    body = client.prepare_refresh_body(
        refresh_token=refresh_token,
        scope=scopes,
        client_id=client_id,
        **_secret(client_secret),
    )
    return _request(client, endpoints, body, timeout, refreshing=True)


def _secret(client_secret: str | None) -> dict[str, str]:
    return {"client_secret": client_secret} if client_secret else {}


def _request(
    client: Any, endpoints: Endpoints, body: str, timeout: float, *, refreshing: bool
) -> TokenReply:
    text = _post(endpoints, body, timeout)
    try:
        token = client.parse_request_body_response(text)
    except OAuth2Error as exc:
        if exc.error == "invalid_grant":
            what = "sign-in has expired or was revoked" if refreshing else "sign-in was refused"
            raise SignInRequiredError(
                f"Sign-in required: {endpoints.title} says the {what} ({_describe(exc)})."
            ) from None
        raise OAuthError(
            f"{capitalised(endpoints.title)} refused the token request: {_describe(exc)}.",
            "Check the client ID, the client secret and the scopes of this server.",
        ) from None
    except (ValueError, Warning) as exc:
        raise OAuthError(
            f"{capitalised(endpoints.title)} sent a reply that is not a token "
            f"({type(exc).__name__}).",
            f"Check the token URL: {endpoints.token_url}",
        ) from None
    lifetime = float(token.get("expires_in") or DEFAULT_LIFETIME)
    return TokenReply(
        access_token=str(token["access_token"]),
        expires_at=time.time() + lifetime,
        refresh_token=str(token["refresh_token"]) if token.get("refresh_token") else None,
        scope=str(token.get("scope") or " ".join(endpoints.scopes)),
        id_token=str(token["id_token"]) if token.get("id_token") else None,
    )


def capitalised(text: str) -> str:
    """``text`` to begin a sentence: "the sign-in provider" becomes "The sign-in provider"."""
    return text[:1].upper() + text[1:]


def _describe(exc: OAuth2Error) -> str:
    description = (exc.description or "").strip()
    # Microsoft's descriptions end in trace and correlation IDs over several lines.
    first = description.splitlines()[0] if description else ""
    return f"{exc.error}: {first}" if first else str(exc.error)


def _post(endpoints: Endpoints, body: str, timeout: float) -> str:
    request = urllib.request.Request(
        endpoints.token_url,
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return str(reply.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        if _is_error_reply(text):
            return text  # 400/401 with {"error": ...}: oauthlib turns it into its error
        raise OAuthError(
            f"{capitalised(endpoints.title)}'s token endpoint answered HTTP {exc.code}.",
            "Try again later; check the token URL if it persists.",
            temporary=exc.code >= 500 or exc.code == 429,
        ) from None
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OAuthError(
            f"Cannot reach {endpoints.title}'s token endpoint: {reason}.",
            "Check this computer's internet connection, then try again.",
            temporary=True,
        ) from None


def _is_error_reply(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and "error" in data
