"""Access tokens in memory, one per server, refreshed from the refresh token in the keyring.

A token is handed out until 60 s before it expires (a quarter of its lifetime for the
short-lived ones of tests), then refreshed. After the SMTP server refused a token, the
caller asks again with ``rejected=`` that token and gets a fresh one, once: many
connections failing together cause one refresh, not many. The refresh (keyring, HTTP)
runs in a thread under a per-server ``threading.Lock``, so the broker works from any
event loop (the CLI's, the GUI engine's) and from several at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from smtpdesk.core import logs, secrets
from smtpdesk.core.oauth import client
from smtpdesk.core.oauth.errors import SignInRequiredError
from smtpdesk.core.oauth.providers import endpoints_for
from smtpdesk.core.settings import ServerSettings

REFRESH_MARGIN = 60.0  # seconds before expiry at which a token is refreshed


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # time.time()
    obtained_at: float
    refreshed: bool = False  # obtained from the provider just now, not from memory

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.obtained_at

    @property
    def renew_at(self) -> float:
        """When to stop using it: 60 s before expiry (a quarter of a short lifetime)."""
        return self.expires_at - min(REFRESH_MARGIN, self.lifetime / 4)

    def usable(self, now: float) -> bool:
        return now < self.renew_at

    def describe(self) -> str:
        """E.g. ``refreshed; expires 14:03:12 (in 59 min)``: for the server test."""
        left = max(0.0, self.expires_at - time.time())
        span = f"{left / 60:.0f} min" if left >= 120 else f"{left:.0f} s"
        when = time.strftime("%H:%M:%S", time.localtime(self.expires_at))
        how = "obtained from the provider" if self.refreshed else "still valid, from memory"
        return f"{how}; expires {when} (in {span})"


class TokenBroker:
    """The access tokens of this process, by server uuid. Never written anywhere."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.refreshes = 0  # how many times a token was obtained from the provider

    async def get(self, settings: ServerSettings, *, rejected: str | None = None) -> AccessToken:
        """A usable access token for ``settings``; ``rejected`` is one the server refused."""
        token = self._cached(settings.uuid, rejected)
        if token is not None:
            return token
        return await asyncio.to_thread(self._refresh, settings, rejected)

    def remember(
        self, server_uuid: str, reply: client.TokenReply, username: str = ""
    ) -> AccessToken:
        """Keep the access token of a sign-in, so the first send needs no refresh."""
        logs.remember_secret(reply.access_token, username)  # and its XOAUTH2 line
        token = AccessToken(reply.access_token, reply.expires_at, self.clock(), refreshed=True)
        with self._guard:
            self._tokens[server_uuid] = token
        return token

    def forget(self, server_uuid: str) -> None:
        with self._guard:
            self._tokens.pop(server_uuid, None)

    def _cached(self, server_uuid: str, rejected: str | None) -> AccessToken | None:
        token = self._tokens.get(server_uuid)
        if token is None or token.value == rejected or not token.usable(self.clock()):
            return None
        return AccessToken(token.value, token.expires_at, token.obtained_at)

    def _lock(self, server_uuid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(server_uuid, threading.Lock())

    def _refresh(self, settings: ServerSettings, rejected: str | None) -> AccessToken:
        with self._lock(settings.uuid):
            token = self._cached(settings.uuid, rejected)
            if token is not None:  # another caller refreshed while we waited
                return token
            label = settings.name or settings.uuid
            stored = secrets.get_oauth(settings.uuid, secrets.REFRESH_TOKEN)
            if not stored:
                raise SignInRequiredError(
                    f"Sign-in required: {settings.label} has not been signed in yet.", label
                )
            try:
                reply = client.refresh(
                    endpoints_for(settings),
                    settings.oauth_client_id,
                    secrets.get_oauth(settings.uuid, secrets.CLIENT_SECRET),
                    stored,
                )
            except SignInRequiredError as exc:
                self.forget(settings.uuid)
                raise SignInRequiredError(exc.message, label) from None
            if reply.refresh_token and reply.refresh_token != stored:
                secrets.set_oauth(settings.uuid, secrets.REFRESH_TOKEN, reply.refresh_token)
            self.refreshes += 1
            return self.remember(settings.uuid, reply, settings.username)


TOKENS = TokenBroker()  # the process's one broker: pools, tests and sign-in share it
