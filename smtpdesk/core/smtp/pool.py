"""A bounded pool of SMTP connections to one server, reused for many messages.

The state machine (after smtppool): at most ``max_conns`` connections open or
opening; a send borrows an idle one or opens one, waiting at most ``wait_timeout``;
a connection idle for ``idle_timeout`` is closed with QUIT; a broken connection is
discarded, one that got an error reply is RSET and reused. A message that fails on
a connection is retried on another one (network errors and 4xx only), never once its
content went out without a final reply (the server may have it: "unknown"). Senders that
wait for a connection queue up in order and are handed one as soon as it is free. When
every connection is busy, one that pipelines is shared by up to its window of sends
(:mod:`pipeline`: several transactions in flight on one connection).

A message is an ``EmailMessage`` or its ready bytes (the campaign engine's fast path,
which skips the email package's generator); :class:`pipeline.Wire` sends either, on the
pool's connections (:mod:`transaction` is the one-shot path of :mod:`servertest`).

A send that still fails on a connection, TLS or login error makes the pool unhealthy
for a back-off that doubles with each further such failure; messengers skip it
meanwhile. A 421 or a rate-limit reply is not retried at once (that only angers the
server): the pool backs off for as long as the reply asks, or a doubling delay.
Greylisting (4xx "greylisted") is not retried here either: the caller waits minutes.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import math
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Literal

import aiosmtplib

from smtpdesk.core.domain.signing import DkimSigner
from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType
from smtpdesk.core.smtp.connection import (
    DEFAULT_TIMEOUT,
    make_tls_context,
    open_connection,
    open_with_token,
    quit_quietly,
)
from smtpdesk.core.smtp.diagnosis import SERVER_CAUSES, diagnose
from smtpdesk.core.smtp.envelope import prepare, prepare_bytes
from smtpdesk.core.smtp.errors import PoolClosedError, PoolWaitTimeoutError
from smtpdesk.core.smtp.pipeline import Wire
from smtpdesk.core.smtp.types import Diagnosis, SendError, SendResult, ServerStats

log = logging.getLogger(__name__)
BACKOFF_START = 2.0  # seconds a server is skipped after its first connection failure
BACKOFF_MAX = 120.0
REPLY_DELAY_MAX = 3600.0  # the longest wait a server's own "try again in ..." is honoured for
_NOT_RETRIED_HERE = ("pool_wait_timeout", "pool_closed", "rate_limited", "greylisted")
_REPLY_DELAY = re.compile(
    r"\b(?:in|after|wait)\s+(\d+)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|h)\b", re.I
)
_ids = itertools.count(1)


@dataclass(eq=False)
class _Conn:
    smtp: aiosmtplib.SMTP
    ident: int = field(default_factory=lambda: next(_ids))
    expiry: asyncio.TimerHandle | None = None
    # XOAUTH2: when the token it logged in with expires (time.time()); after that the
    # connection is not reused but replaced, so the next one logs in with a fresh token.
    stale_at: float = math.inf
    wire: Wire | None = None  # the transaction phase (pipelined where the server allows)
    lent: int = 0  # sends using it now: more than one only while pipelining (a window)
    broken: bool = False  # a send on it failed on the network: lend it to no one else


_NEW: Literal["new"] = "new"  # a slot is reserved for the waiter: it opens a connection
_CLOSED: Literal["closed"] = "closed"
_Grant = _Conn | Literal["new", "closed"]
_Waiter = tuple["asyncio.Future[_Grant]", set[int]]  # and the connections it must avoid


@dataclass
class _Figures:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    send_seconds: float = 0.0
    wait_seconds: float = 0.0
    last_error: Diagnosis | None = None
    failing: int = 0  # consecutive sends that failed on connection or TLS errors
    throttled: int = 0  # consecutive sends refused with 421 or a rate limit
    skip_until: float = 0.0  # time.monotonic() before which messengers skip this server


def reply_delay(reply: str) -> float:
    """The wait a reply asks for ("try again in 5 minutes"), in seconds; 0 if it names none."""
    match = _REPLY_DELAY.search(reply)
    if match is None:
        return 0.0
    unit = match.group(2)[0].lower()
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[unit]
    return float(min(seconds, REPLY_DELAY_MAX))


class ServerPool:
    """Connections to one server. ``send`` is safe to call from many tasks at once."""

    def __init__(
        self,
        settings: ServerSettings,
        password: str | None,
        *,
        command_timeout: float = DEFAULT_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
        signer: DkimSigner | None = None,
    ) -> None:
        self.settings = settings
        self._password = password
        self._command_timeout = command_timeout
        self._tls_context = tls_context
        self._idle: list[_Conn] = []
        self._open = 0  # open plus being opened: never above max_conns
        self._busy = 0
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._closed = False
        self._quitting: set[asyncio.Task[None]] = set()
        self._figures = _Figures()
        self._backoff = (backoff_start, backoff_max)
        self.signer = signer  # DKIM, added last: after the server's headers (issue 14)
        self._lent: list[_Conn] = []  # busy connections, which a pipelining one may share
        self._lockstep = False  # a pipelined reply timed out: no pipelining to this server

    # --- public -----------------------------------------------------------------------

    async def send(
        self,
        message: EmailMessage | bytes,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
    ) -> SendResult:
        """Send one message, retrying on other connections; raise :class:`SendError`.

        ``message`` may be already serialised (CRLF line endings, ASCII or 8-bit): then
        ``sender`` and ``recipients`` are required, since they are not read from it.
        """
        out: EmailMessage | bytes
        if isinstance(message, bytes):
            if sender is None or recipients is None:
                raise ValueError("a message given as bytes needs a sender and recipients")
            out, envelope_from, rcpts = prepare_bytes(message, self.settings, sender, recipients)
        else:
            out, envelope_from, rcpts = prepare(message, self.settings, sender, recipients)
        if self.signer is not None:
            out = self.signer.sign(out) if isinstance(out, bytes) else self.signer.sign_email(out)
        tried: set[int] = set()
        diagnosis: Diagnosis | None = None
        attempts = 0
        unconfirmed = False  # some attempt's content went out without a final reply
        for attempt in range(self.settings.max_msg_retries + 1):
            if attempt:
                self._figures.retried += 1
                await asyncio.sleep(self.settings.msg_retry_delay)
            attempts += 1
            outcome = await self._attempt(out, envelope_from, rcpts, tried)
            if isinstance(outcome, SendResult):
                self._figures.failing = self._figures.throttled = 0
                self._figures.skip_until = 0.0
                return SendResult(outcome.server_uuid, outcome.reply, attempts, outcome.refused)
            diagnosis = outcome
            unconfirmed = unconfirmed or diagnosis.unconfirmed
            if diagnosis.unconfirmed:
                break  # the server may have the message: sending it again could duplicate it
            if not diagnosis.temporary or diagnosis.cause in _NOT_RETRIED_HERE:
                break
        assert diagnosis is not None
        if unconfirmed and not diagnosis.unconfirmed:  # an earlier attempt may have arrived
            diagnosis = replace(diagnosis, unconfirmed=True)
        self._figures.failed += 1
        self._figures.last_error = diagnosis
        if diagnosis.cause in SERVER_CAUSES:
            self._back_off()
        elif diagnosis.cause == "rate_limited":
            self._throttle(diagnosis)
        raise SendError(diagnosis, self.settings.uuid, attempts)

    @property
    def healthy(self) -> bool:
        """False while backing off after sends failed on connection or TLS errors."""
        return time.monotonic() >= self._figures.skip_until

    def _back_off(self) -> None:
        f = self._figures
        f.failing += 1
        start, most = self._backoff
        f.skip_until = time.monotonic() + min(most, start * 2 ** (f.failing - 1))

    def _throttle(self, diagnosis: Diagnosis) -> None:
        """Skip the server as long as its reply asks, else for a doubling delay."""
        f = self._figures
        f.throttled += 1
        start, most = self._backoff
        delay = max(min(most, start * 2 ** (f.throttled - 1)), reply_delay(diagnosis.raw))
        f.skip_until = max(f.skip_until, time.monotonic() + delay)

    def stats(self) -> ServerStats:
        f = self._figures
        return ServerStats(
            server_uuid=self.settings.uuid,
            label=self.settings.label,
            connections_open=self._open,
            connections_busy=self._busy,
            sent=f.sent,
            failed=f.failed,
            retried=f.retried,
            mean_send_seconds=f.send_seconds / f.sent if f.sent else 0.0,
            wait_seconds=f.wait_seconds,
            last_error=f.last_error,
            healthy=self.healthy,
            backoff=max(0.0, f.skip_until - time.monotonic()),
        )

    async def close(self) -> None:
        """QUIT every idle connection, and busy ones as they come back; wake all waiters."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        self._hand_over()
        for conn in idle:
            self._quit_later(conn)
        if self._quitting:
            await asyncio.gather(*self._quitting, return_exceptions=True)

    # --- one try ----------------------------------------------------------------------

    async def _attempt(
        self, message: EmailMessage | bytes, sender: str, rcpts: list[str], tried: set[int]
    ) -> SendResult | Diagnosis:
        waited = time.perf_counter()
        try:
            conn = await self._acquire(tried)
        except Exception as exc:
            self._figures.wait_seconds += time.perf_counter() - waited
            return diagnose(exc, self.settings, password=self._password)
        self._figures.wait_seconds += time.perf_counter() - waited
        started = time.perf_counter()
        if conn.wire is None:
            conn.wire = Wire(conn.smtp, self._command_timeout, lockstep=self._lockstep)
        wire = conn.wire
        try:
            if isinstance(message, bytes):
                refused, reply = await wire.send(message, sender, rcpts)
            else:
                refused, reply = await wire.send_message(message, sender, rcpts)
        except Exception as exc:
            tried.add(conn.ident)
            self._lockstep = self._lockstep or wire.timed_out  # it advertised, then stalled
            self._release(conn, broken=not conn.smtp.is_connected)
            offers_auth = conn.smtp.supports_extension("auth")
            return diagnose(exc, self.settings, "send", self._password, offers_auth=offers_auth)
        except BaseException:
            self._release(conn, broken=True)  # cancelled mid-message: state unknown
            raise
        self._release(conn, broken=False)
        self._figures.sent += 1
        self._figures.send_seconds += time.perf_counter() - started
        return SendResult(
            self.settings.uuid,
            reply,
            1,
            {addr: f"{r.code} {r.message}" for addr, r in refused.items()},
        )

    # --- borrowing and returning --------------------------------------------------------
    #
    # Waiters queue up as futures (first come, first served). Whoever frees a connection
    # or a slot hands it to the first waiter directly, so no wake-up can be lost between
    # a notification and a time-out (asyncio.Condition can lose one before Python 3.13).

    async def _acquire(self, avoid: set[int]) -> _Conn:
        if self._closed:
            raise PoolClosedError("the pool is closed")
        grant = self._grant(avoid) if not self._waiters else None
        if grant is None:
            grant = await self._wait(avoid)
        if isinstance(grant, _Conn):
            return grant
        if grant == _CLOSED:
            raise PoolClosedError("the pool is closed")
        conn = await self._open_new()
        self._lend(conn)
        return conn

    def _grant(self, avoid: set[int]) -> _Grant | None:
        """An idle connection, else a reserved slot to open one in, else None (all busy)."""
        conn = self._take_idle(avoid)
        if conn is not None:
            self._busy += 1
            self._lend(conn)
            return conn
        if self._open < self.settings.max_conns:
            self._open += 1
            self._busy += 1
            return _NEW
        return self._share(avoid)

    def _lend(self, conn: _Conn) -> None:
        conn.lent = 1
        self._lent.append(conn)

    def _share(self, avoid: set[int]) -> _Conn | None:
        """A busy connection with room in its pipelining window (the least loaded)."""
        best = None
        for conn in self._lent:
            wire = conn.wire
            if conn.ident in avoid or conn.broken or wire is None or conn.lent >= wire.window:
                continue
            if conn.smtp.is_connected and (best is None or conn.lent < best.lent):
                best = conn
        if best is not None:
            best.lent += 1
        return best

    async def _wait(self, avoid: set[int]) -> _Grant:
        waiter: _Waiter = (asyncio.get_running_loop().create_future(), avoid)
        self._waiters.append(waiter)
        self._hand_over()
        future = waiter[0]
        try:
            async with asyncio.timeout(self.settings.wait_timeout):
                return await future
        except BaseException as exc:
            if future.done() and not future.cancelled():
                grant = future.result()  # handed over just as the time ran out
                if isinstance(exc, TimeoutError):
                    return grant
                self._give_back(grant)
                raise
            future.cancel()
            if waiter in self._waiters:  # a hand-over may have dropped it, being cancelled
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise PoolWaitTimeoutError(
                    f"no free connection within {self.settings.wait_timeout:g} s"
                ) from None
            raise

    def _hand_over(self) -> None:
        """Serve the waiters in order while there is an idle connection or a free slot."""
        while self._waiters:
            future, avoid = self._waiters[0]
            if future.done():  # cancelled: its owner is leaving
                self._waiters.popleft()
                continue
            grant = _CLOSED if self._closed else self._grant(avoid)
            if grant is None:
                return
            self._waiters.popleft()
            future.set_result(grant)

    def _give_back(self, grant: _Grant) -> None:
        """Return what a waiter was handed but will not use."""
        if isinstance(grant, _Conn):
            self._release(grant, broken=False)
        elif grant == _NEW:
            self._open -= 1
            self._busy -= 1
            self._hand_over()

    def _take_idle(self, avoid: set[int]) -> _Conn | None:
        """The most recently used idle connection not in ``avoid``.

        When only avoided ones are idle and the pool is full, one is closed to make room
        for a fresh connection: a retry must not land on the connection that failed.
        """
        for conn in reversed(self._idle):
            if conn.ident not in avoid:
                self._idle.remove(conn)
                self._cancel_expiry(conn)
                if conn.smtp.is_connected and time.time() < conn.stale_at:
                    return conn
                self._open -= 1
                if conn.smtp.is_connected:  # its OAuth token has expired
                    self._quit_later(conn)
        if self._idle and self._open >= self.settings.max_conns:
            stale = self._idle.pop(0)
            self._cancel_expiry(stale)
            self._open -= 1
            self._quit_later(stale)
        return None

    async def _open_new(self) -> _Conn:
        try:
            if self._tls_context is None and self.settings.tls_type != TlsType.NONE:
                self._tls_context = await asyncio.to_thread(make_tls_context, self.settings)
            if self.settings.auth_protocol == AuthProtocol.XOAUTH2:
                smtp, stale_at = await open_with_token(
                    self.settings,
                    tls_context=self._tls_context,
                    command_timeout=self._command_timeout,
                )
                return _Conn(smtp, stale_at=stale_at)
            smtp = await open_connection(
                self.settings,
                self._password,
                tls_context=self._tls_context,
                command_timeout=self._command_timeout,
            )
        except BaseException:
            self._give_back(_NEW)
            raise
        return _Conn(smtp)

    def _release(self, conn: _Conn, *, broken: bool) -> None:
        conn.lent -= 1
        conn.broken = conn.broken or broken
        if conn.lent > 0:  # others still have transactions in its window
            self._hand_over()
            return
        broken = conn.broken
        self._lent.remove(conn)
        self._busy -= 1
        if broken or self._closed:
            self._open -= 1
            if broken:
                conn.smtp.close()
            else:
                self._quit_later(conn)
        else:
            self._idle.append(conn)
            conn.expiry = asyncio.get_running_loop().call_later(
                self.settings.idle_timeout, self._expire, conn
            )
        self._hand_over()

    def _expire(self, conn: _Conn) -> None:
        if conn in self._idle:
            self._idle.remove(conn)
            self._open -= 1
            self._quit_later(conn)
            self._hand_over()

    def _cancel_expiry(self, conn: _Conn) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None

    def _quit_later(self, conn: _Conn) -> None:
        self._cancel_expiry(conn)
        task = asyncio.get_running_loop().create_task(quit_quietly(conn.smtp))
        self._quitting.add(task)
        task.add_done_callback(self._quitting.discard)
