"""A messenger's servers as one sender: strict rotation, and a pause for servers that fail.

listmonk picks a pool server at random; we rotate evenly, so over any run the
servers' counts differ by at most one (among those eligible and healthy). A server
whose send failed on a connection or TLS error is skipped while its pool backs off
(see :attr:`ServerPool.healthy`), then tried again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from typing import Any

from smtpdesk.core import secrets
from smtpdesk.core.domain.signing import signer_for
from smtpdesk.core.messengers import Messenger
from smtpdesk.core.settings import AuthProtocol, ServerSettings
from smtpdesk.core.smtp.diagnosis import diagnose
from smtpdesk.core.smtp.errors import NoServerAvailableError
from smtpdesk.core.smtp.pool import ServerPool
from smtpdesk.core.smtp.types import SendError, SendResult, ServerStats

Eligible = Callable[[ServerSettings], bool]


class MessengerSender:
    """Sends through the servers of one messenger (``email`` or a named server)."""

    def __init__(
        self,
        messenger: Messenger,
        passwords: Callable[[str], str | None] = secrets.get_password,
        dkim_keys: Callable[[str, str], str | None] = secrets.get_dkim_key,
        **pool_options: Any,
    ) -> None:
        self.messenger = messenger
        self.pools: list[ServerPool] = [
            ServerPool(s, _password(s, passwords), signer=signer_for(s, dkim_keys), **pool_options)
            for s in messenger.servers
        ]
        self._next = 0

    def pick(self, eligible: Eligible | None = None) -> ServerPool | None:
        """The next healthy pool (in strict rotation) whose settings ``eligible`` accepts."""
        count = len(self.pools)
        for step in range(count):
            index = (self._next + step) % count
            pool = self.pools[index]
            if not pool.healthy:
                continue
            if eligible is not None and not eligible(pool.settings):
                continue
            self._next = index + 1
            return pool
        return None

    async def send(
        self,
        message: EmailMessage | bytes,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
        eligible: Eligible | None = None,
    ) -> SendResult:
        """Send through the next pool; after a connection failure, move on to the next one.

        ``message`` as bytes needs ``sender`` and ``recipients`` (see :meth:`ServerPool.send`).
        """
        tried: set[str] = set()
        last: SendError | None = None
        while True:
            pool = self.pick(lambda s: s.uuid not in tried and (eligible is None or eligible(s)))
            if pool is None:
                raise last or self._none_available()
            tried.add(pool.settings.uuid)
            try:
                result = await pool.send(message, sender=sender, recipients=recipients)
            except SendError as exc:
                if pool.healthy:  # not a connection failure: another server would fare no better
                    raise
                last = exc
                continue
            return result

    def stats(self) -> list[ServerStats]:
        return [p.stats() for p in self.pools]

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.pools))

    def _none_available(self) -> SendError:
        if not self.pools:
            reason = f"The messenger {self.messenger.name!r} has no enabled server."
        else:
            reason = (
                f"No server of the messenger {self.messenger.name!r} can send now: "
                "each is pausing after errors or has reached its limits."
            )
        return SendError(diagnose(NoServerAvailableError(reason)), "", 0)


def _password(settings: ServerSettings, passwords: Callable[[str], str | None]) -> str | None:
    if settings.auth_protocol == AuthProtocol.NONE:
        return None
    return passwords(settings.uuid)
