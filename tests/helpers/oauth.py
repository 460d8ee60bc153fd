"""A local OAuth 2.0 authorization server and an SMTP server that speaks XOAUTH2, on 127.0.0.1.

:class:`AuthServer` (a real HTTP server in its own thread) is strict where real providers
are: PKCE with S256 only, ``state`` required and returned, a loopback redirect only
(``http://127.0.0.1:PORT/`` or ``http://localhost:PORT/``), codes used once and bound to
their verifier and redirect, access tokens that live a few seconds, refresh tokens that
can be revoked (``invalid_grant`` after that). It consents on the user's behalf: a GET of
the authorization address answers with the 302 to the redirect, as a browser would see
after the user clicked "Allow". Every call is counted in ``calls``.

:func:`start_oauth_smtpd` starts aiosmtpd with an XOAUTH2 authenticator that accepts only
a live access token for the right user; a refused one gets Google's ``334`` base64 JSON
error challenge, then ``535 5.7.8`` (or Microsoft's ``535 5.7.3`` with ``style=
"microsoft"``).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from smtpdesk.core.settings import AuthProtocol, OAuthProvider, ServerSettings
from tests.helpers.smtpd import (
    Faults,
    RecordingHandler,
    SmtpdServer,
    _TrackingSMTP,
    server_tls_context,
)

CLIENT_ID = "smtpdesk-test-client"
ACCOUNT = "alice@example.test"
SCOPE = "https://mail.example.test/smtp"


@dataclass
class _Grant:
    account: str
    scope: str
    revoked: bool = False


@dataclass
class _Code:
    grant: _Grant
    challenge: str
    redirect_uri: str
    used: bool = False


@dataclass
class AuthServer:
    """The authorization server's state; ``url`` is its base address once started."""

    lifetime: float = 4.0  # seconds an access token lives
    rotate_refresh: bool = True  # hand out a new refresh token with each refresh
    client_secret: str | None = None  # required at the token endpoint when set
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh_tokens: dict[str, _Grant] = field(default_factory=dict)
    access_tokens: dict[str, tuple[_Grant, float]] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what the SMTP server and the tests ask ----------------------------------------

    def live(self, token: str, account: str) -> bool:
        with self.lock:
            found = self.access_tokens.get(token)
        if found is None:
            return False
        grant, expires = found
        return not grant.revoked and grant.account == account and time.time() < expires

    def expires_at(self, token: str) -> float:
        return self.access_tokens[token][1]

    def revoke_all(self) -> None:
        with self.lock:
            for grant in self.refresh_tokens.values():
                grant.revoked = True

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token, (grant, _) in list(self.access_tokens.items()):
                self.access_tokens[token] = (grant, 0.0)

    def settings(self, **overrides: Any) -> dict[str, object]:
        """Server settings fields for a custom provider pointing here."""
        values: dict[str, object] = {
            "auth_protocol": "xoauth2",
            "oauth_provider": "custom",
            "oauth_client_id": CLIENT_ID,
            "oauth_authorize_url": f"{self.url}/authorize",
            "oauth_token_url": f"{self.url}/token",
            "oauth_scopes": [SCOPE, "offline_access"],
            "username": ACCOUNT,
        }
        values.update(overrides)
        return values

    # --- the endpoints ---------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        self.calls["authorize"] += 1
        redirect = query.get("redirect_uri", "")
        parts = urlsplit(redirect)
        problems = []
        if query.get("client_id") != CLIENT_ID:
            problems.append("unknown client_id")
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
            problems.append("redirect_uri is not a loopback address")
        if not parts.port or parts.path != "/":
            problems.append("redirect_uri needs a port and the path /")
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if (
            query.get("code_challenge_method") != "S256"
            or len(query.get("code_challenge", "")) < 43
        ):
            problems.append("PKCE with S256 is required")
        if not query.get("state"):
            problems.append("state is required")
        if problems:
            self.calls["authorize_refused"] += 1
            return 400, {}, "; ".join(problems)
        code = secrets.token_urlsafe(16)
        grant = _Grant(query.get("login_hint") or ACCOUNT, query.get("scope", ""))
        with self.lock:
            self.codes[code] = _Code(grant, query["code_challenge"], redirect)
        target = redirect + "?" + urlencode({"code": code, "state": query["state"]})
        return 302, {"Location": target}, ""

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        kind = form.get("grant_type", "")
        self.calls[f"token:{kind}"] += 1
        if form.get("client_id") != CLIENT_ID:
            return 401, {"error": "invalid_client"}
        if self.client_secret is not None and form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "bad client secret"}
        with self.lock:
            if kind == "authorization_code":
                return self._code_grant(form)
            if kind == "refresh_token":
                return self._refresh_grant(form)
        return 400, {"error": "unsupported_grant_type"}

    def _code_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.used:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        code.used = True
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}
        if form.get("redirect_uri") != code.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        refresh = secrets.token_urlsafe(32)
        self.refresh_tokens[refresh] = code.grant
        return 200, self._issue(code.grant, refresh)

    def _refresh_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        old = form.get("refresh_token", "")
        grant = self.refresh_tokens.get(old)
        if grant is None or grant.revoked:
            return 400, {
                "error": "invalid_grant",
                "error_description": "AADSTS70000: The refresh token was revoked.\r\nTrace ID: x",
            }
        refresh = None
        if self.rotate_refresh:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = grant
            del self.refresh_tokens[old]
        return 200, self._issue(grant, refresh)

    def _issue(self, grant: _Grant, refresh: str | None) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = (grant, time.time() + self.lifetime)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": grant.scope,
        }
        if refresh:
            body["refresh_token"] = refresh
        return body


def _handler(state: AuthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            target = urlsplit(self.path)
            if target.path != "/authorize":
                self._send(404, {}, b"not found", "text/plain")
                return
            query = {k: v[0] for k, v in parse_qs(target.query).items()}
            status, headers, text = state.authorize(query)
            self._send(status, headers, text.encode(), "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path == "/token":
                status, body = state.token(form)
            elif self.path == "/revoke":
                state.calls["revoke"] += 1
                grant = state.refresh_tokens.get(form.get("token", ""))
                if grant is not None:
                    grant.revoked = True
                status, body = 200, {}
            else:
                status, body = 404, {"error": "not_found"}
            self._send(status, {}, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, headers: dict[str, str], body: bytes, kind: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def auth_server() -> Iterator[AuthServer]:
    state = AuthServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


# --- SMTP with XOAUTH2 ---------------------------------------------------------------------


class XOAuth2Handler(RecordingHandler):
    """The recording handler plus AUTH XOAUTH2 against ``auth``'s live access tokens."""

    def __init__(
        self, faults: Faults, auth: AuthServer, style: Literal["google", "microsoft", "echo"]
    ) -> None:
        super().__init__(faults, ("XOAUTH2",))
        self.auth = auth
        self.style = style
        self.tokens_seen: list[str] = []
        self.refused = 0
        self.stale_mail = 0  # MAIL on a session whose token had expired meanwhile

    async def auth_XOAUTH2(self, server: SMTPServerProtocol, args: list[str]) -> AuthResult:
        blob = args[1] if len(args) > 1 else ""
        user, token = _parse_xoauth2(base64.b64decode(blob).decode() if blob else "")
        self.tokens_seen.append(token)
        if user and self.auth.live(token, user):
            self.stats.auth_logins.append(user)
            assert server.session is not None
            server.session.__dict__["oauth_token"] = token
            return AuthResult(
                success=True, handled=False, auth_data=LoginPassword(user.encode(), b"")
            )
        self.refused += 1
        if self.style == "echo":  # a careless server quotes what it was sent
            await server.push(f"535 5.7.8 Refused: AUTH XOAUTH2 {blob} (token {token})")
            return AuthResult(success=False, handled=True)
        if self.style == "microsoft":
            await server.push("535 5.7.3 Authentication unsuccessful [SN4PR0501CA0054]")
            return AuthResult(success=False, handled=True)
        error = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
        await server.challenge_auth(json.dumps(error))
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        token = session.__dict__.get("oauth_token")
        if token is not None and time.time() >= self.auth.expires_at(token):
            self.stale_mail += 1
        return await super().handle_MAIL(server, session, envelope, address, options)


def _parse_xoauth2(text: str) -> tuple[str, str]:
    fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
    bearer = fields.get("auth", "")
    return fields.get("user", ""), bearer.removeprefix("Bearer ")


async def start_oauth_smtpd(
    auth: AuthServer,
    cert: Any,
    *,
    style: Literal["google", "microsoft", "echo"] = "google",
) -> SmtpdServer:
    """STARTTLS on 127.0.0.1, offering only AUTH XOAUTH2 (after TLS)."""
    loop = asyncio.get_running_loop()
    handler = XOAuth2Handler(Faults(), auth, style)
    options: dict[str, Any] = {
        "hostname": "smtpd.test",
        "auth_exclude_mechanism": ["PLAIN", "LOGIN", "CRAM-MD5"],
        "auth_require_tls": True,
        "tls_context": server_tls_context(cert),
        "timeout": 60,
    }
    server = await loop.create_server(
        lambda: _TrackingSMTP(handler, **options), host="127.0.0.1", port=0
    )
    return SmtpdServer("starttls", handler, server)


def oauth_settings_for(server: SmtpdServer, auth: AuthServer, **overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "hello_hostname": "client.example.test",
        "auth_protocol": AuthProtocol.XOAUTH2,
        "oauth_provider": OAuthProvider.CUSTOM,
        "oauth_client_id": CLIENT_ID,
        "oauth_authorize_url": f"{auth.url}/authorize",
        "oauth_token_url": f"{auth.url}/token",
        "oauth_scopes": (SCOPE, "offline_access"),
        "username": ACCOUNT,
    }
    values.update(overrides)
    return ServerSettings(**values)
