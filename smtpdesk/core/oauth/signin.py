"""Signing a server in and out: authorization code with PKCE (S256) in the system browser.

The flow (RFC 6749 §4.1, RFC 7636, RFC 8252): listen on 127.0.0.1 and a free port, open
the provider's authorization address in the user's browser (never an embedded view),
wait up to 5 minutes for the redirect with our ``state``, trade the code and the PKCE
verifier for tokens, keep the refresh token in the keyring and the access token in
memory. ``open_browser`` is injectable (``webbrowser.open`` by default; None prints only).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets as random
import time
import webbrowser
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import WebApplicationClient

from smtpdesk.core import secrets
from smtpdesk.core.oauth import client
from smtpdesk.core.oauth.client import capitalised
from smtpdesk.core.oauth.errors import OAuthError
from smtpdesk.core.oauth.loopback import LoopbackReceiver
from smtpdesk.core.oauth.providers import Endpoints, endpoints_for
from smtpdesk.core.oauth.tokens import TOKENS, TokenBroker
from smtpdesk.core.settings import AuthProtocol, ServerSettings

SIGN_IN_TIMEOUT = 300.0  # seconds the user has to finish in the browser
BrowserOpener = Callable[[str], object]


@dataclass(frozen=True)
class Grant:
    """What the GUI shows about a sign-in: who, when, which provider and scopes."""

    account: str
    granted_at: float  # time.time()
    provider: str
    scope: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Grant | None:
        try:
            data = json.loads(text)
            return cls(
                str(data["account"]),
                float(data["granted_at"]),
                str(data["provider"]),
                str(data["scope"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class AuthorizationRequest:
    """One sign-in attempt's address and the secrets that must match its redirect."""

    url: str
    redirect_uri: str
    state: str
    code_verifier: str = ""

    def __repr__(self) -> str:
        return f"AuthorizationRequest(url={self.url!r})"


def authorization_request(
    endpoints: Endpoints, client_id: str, port: int, login_hint: str = ""
) -> AuthorizationRequest:
    """The browser's address with a fresh ``state`` and PKCE S256 challenge."""
    oauth = WebApplicationClient(client_id)
    verifier = oauth.create_code_verifier(64)
    challenge = oauth.create_code_challenge(verifier, "S256")
    state = random.token_urlsafe(24)
    redirect_uri = f"http://{endpoints.redirect_host}:{port}/"
    params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", " ".join(endpoints.scopes)),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        *endpoints.extra,
    ]
    if login_hint:
        params.append(("login_hint", login_hint))
    # Built here rather than by oauthlib's prepare_request_uri, which refuses the plain
    # http of a loopback authorization server (a custom provider on this computer).
    url = add_params_to_uri(endpoints.authorize_url, params)
    return AuthorizationRequest(url, redirect_uri, state, verifier)


async def sign_in(
    settings: ServerSettings,
    *,
    open_browser: BrowserOpener | None = webbrowser.open,
    on_address: Callable[[str], None] | None = None,
    limit: float = SIGN_IN_TIMEOUT,
    tokens: TokenBroker = TOKENS,
) -> Grant:
    """Sign ``settings``' mailbox in; store the grant. Raise :class:`OAuthError` or
    :class:`SignInRequiredError` (the provider refused the code)."""
    if settings.auth_protocol != AuthProtocol.XOAUTH2:
        raise OAuthError(
            f"{settings.label} does not use OAuth sign-in.",
            "Set auth_protocol to xoauth2 first (--auth xoauth2).",
        )
    endpoints = endpoints_for(settings)
    receiver = LoopbackReceiver("")
    await receiver.start(also_ipv6=endpoints.redirect_host == "localhost")
    try:
        request = authorization_request(
            endpoints, settings.oauth_client_id, receiver.port, settings.username
        )
        receiver.state = request.state
        if on_address is not None:
            on_address(request.url)
        if open_browser is not None:
            await _open(open_browser, request.url)
        redirect = await receiver.wait(limit)
    finally:
        await receiver.close()
    if not redirect.code:
        raise OAuthError(
            f"{capitalised(endpoints.title)} did not sign you in: "
            f"{redirect.error_description or redirect.error or 'no code was returned'}.",
            "Start the sign-in again; accept the requested access in the browser.",
        )
    return await asyncio.to_thread(_finish, settings, endpoints, request, redirect.code, tokens)


async def _open(open_browser: BrowserOpener, url: str) -> None:
    opened = await asyncio.to_thread(open_browser, url)
    if opened is False:
        raise OAuthError(
            "No web browser could be opened for the sign-in.",
            "Use 'smtpdesk servers login NAME --no-browser' and open the address yourself.",
        )


def _finish(
    settings: ServerSettings,
    endpoints: Endpoints,
    request: AuthorizationRequest,
    code: str,
    tokens: TokenBroker,
) -> Grant:
    client_secret = secrets.get_oauth(settings.uuid, secrets.CLIENT_SECRET)
    reply = client.exchange_code(
        endpoints,
        settings.oauth_client_id,
        client_secret,
        code=code,
        redirect_uri=request.redirect_uri,
        code_verifier=request.code_verifier,
    )
    if not reply.refresh_token:
        raise OAuthError(
            f"{capitalised(endpoints.title)} signed you in but gave no refresh token, so "
            "smtpdesk would have to ask again within the hour.",
            "Include the offline_access scope (Microsoft) or sign in again (Google asks "
            "for offline access).",
        )
    grant = Grant(
        _account(reply.id_token) or settings.username, time.time(), endpoints.provider, reply.scope
    )
    secrets.set_oauth(settings.uuid, secrets.REFRESH_TOKEN, reply.refresh_token)
    secrets.set_oauth(settings.uuid, secrets.GRANT, grant.to_json())
    tokens.remember(settings.uuid, reply, settings.username)
    return grant


def _account(id_token: str | None) -> str:
    """The signed-in address from an ID token's claims, for display only (not verified)."""
    if not id_token or id_token.count(".") != 2:
        return ""
    payload = id_token.split(".")[1]
    try:
        claims: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return ""
    if not isinstance(claims, dict):
        return ""
    return str(claims.get("email") or claims.get("preferred_username") or "")


def grant_of(server_uuid: str) -> Grant | None:
    """The stored sign-in of a server, or None when it is not signed in."""
    if not secrets.get_oauth(server_uuid, secrets.REFRESH_TOKEN):
        return None
    text = secrets.get_oauth(server_uuid, secrets.GRANT)
    return (Grant.from_json(text) if text else None) or Grant("", 0.0, "", "")


def sign_out(server_uuid: str, tokens: TokenBroker = TOKENS) -> None:
    """Forget the tokens (the client secret stays: it belongs to the settings)."""
    tokens.forget(server_uuid)
    secrets.delete_oauth(server_uuid, secrets.REFRESH_TOKEN, secrets.GRANT)
