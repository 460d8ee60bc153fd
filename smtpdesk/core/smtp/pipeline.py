"""The mail transaction on an open connection, pipelined where the server allows it.

aiosmtplib opens the connection (TLS, EHLO, AUTH) but waits for each reply and drops
replies that arrive while no command waits, so it cannot pipeline. For the transaction
phase a :class:`Wire` takes the connection's transport over (``set_protocol``) and gives
it back as soon as no transaction is in flight, so RSET, NOOP and QUIT, STARTTLS and AUTH
stay aiosmtplib's: nothing is ever pipelined across them.

The way is chosen from the EHLO reply, as Postfix's smtp client does (``smtp_proto.c``):

- CHUNKING (RFC 3030) with PIPELINING: MAIL, each RCPT and ``BDAT n LAST`` with the
  content in one write, one round trip a message;
- PIPELINING (RFC 2920): MAIL, each RCPT and DATA in one write, the content after 354;
  when 354 comes but every RCPT was refused, a lone "." ends the empty message (3.1);
- neither: lock-step, each command waits for its reply (BDAT still spares the dot-stuffing).

With PIPELINING up to ``window`` transactions may be in flight on one connection. Each
command written leaves a step in a queue; replies come back in the order of the commands,
so each completes the first step, and each step knows its message and recipient: a failure
fails only the transaction it belongs to. A transaction that starts while an earlier one is
unresolved begins with RSET, so its MAIL can never land in a transaction the earlier one
left open (a nested MAIL would add its recipients there). Otherwise RSET is only sent after
a failure that may leave a sender on the server, in front of the next MAIL.

Once the content has gone out, a lost connection or a missing reply does not mean the
message was refused: :class:`UnconfirmedError` says so, unless a reply already proved the
refusal. A time-out while pipelining sets :attr:`Wire.timed_out`: the caller then talks to
this server in lock-step (the connection itself is closed: its replies are out of step).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib import SMTPResponse, SMTPStatus
from aiosmtplib.email import flatten_message
from aiosmtplib.protocol import (
    MAX_LINE_LENGTH,
    MAX_RESPONSE_LENGTH,
    PERIOD_REGEX,
    normalize_message_line_endings,
)

from smtpdesk.core.smtp.errors import UnconfirmedError
from smtpdesk.core.smtp.transaction import Refused, _mail_options, _path

WINDOW = 4  # transactions in flight on one pipelining connection
CRLF = b"\r\n"
_ACCEPTED = (SMTPStatus.completed, SMTPStatus.will_forward)
# the replies to MAIL, to each RCPT and the one that ends the transaction (None: none came)
_Replies = tuple[SMTPResponse, list[SMTPResponse], "SMTPResponse | None"]
_LONE_DOT = b".\r\n"
_NOT_NEEDED = SMTPResponse(250, "RSET not needed")  # the reply of an RSET left out


class _Txn:
    """One message's transaction: what goes out after 354 and what has gone out."""

    __slots__ = ("accepted", "answered", "body", "body_sent", "mail_code", "mail_ok", "rcpts")

    def __init__(self, body: bytes, rcpts: int = 0) -> None:
        self.body = body  # dot-stuffed content for DATA; empty for BDAT (sent with it)
        self.rcpts = rcpts
        self.mail_code = 0  # the reply to MAIL, once it came
        self.mail_ok = False
        self.answered = 0  # RCPT replies that came
        self.accepted = 0
        self.body_sent = False  # the content (not a lone ".") was handed to the transport

    def refused(self) -> bool:
        """The replies that came prove the server did not take the message."""
        if self.mail_code and not self.mail_ok:
            return True
        return self.answered == self.rcpts and not self.accepted


class _Step:
    """A command written and waiting for its reply."""

    __slots__ = ("future", "kind", "txn")

    def __init__(self, future: asyncio.Future[SMTPResponse], kind: str, txn: _Txn) -> None:
        self.future = future
        self.kind = kind  # "RSET", "MAIL", "RCPT", "DATA", "END" (after the content), "BDAT"
        self.txn = txn


class Wire(asyncio.Protocol):
    """The transaction phase of one connection; ``send`` may be called from many tasks."""

    def __init__(
        self,
        smtp: aiosmtplib.SMTP,
        timeout: float | None,
        *,
        window: int = WINDOW,
        lockstep: bool = False,
    ) -> None:
        self.smtp = smtp
        self.timeout = timeout
        self.chunking = smtp.supports_extension("chunking")
        self.pipelining = smtp.supports_extension("pipelining") and not lockstep
        self.window = max(1, window) if self.pipelining else 1
        self.timed_out = False  # a pipelined reply did not come in time
        self._steps: collections.deque[_Step] = collections.deque()
        self._buffer = bytearray()
        # what waits to be written: a group, whether it ends with DATA, its RSET step if any
        self._out: collections.deque[tuple[bytes, bool, _Step | None]] = collections.deque()
        self._awaiting_start = False  # a DATA waits for 354: hold what follows it
        self._dirty = False  # a failed transaction may have left a sender on the server
        self._inflight = 0
        self._admission: collections.deque[asyncio.Future[None]] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._original: asyncio.BaseProtocol | None = None
        # one watchdog per connection, not a timer per reply: it fires when nothing has
        # been written or received for ``timeout`` seconds while replies are due
        self._watchdog: asyncio.TimerHandle | None = None
        self._active = 0.0  # loop time of the last write or read

    # --- public -----------------------------------------------------------------------

    async def send_message(
        self, message: EmailMessage, sender: str, recipients: Sequence[str]
    ) -> tuple[Refused, str]:
        """Flatten as aiosmtplib's ``send_message`` does, then :meth:`send`."""
        utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
        cte_type = "8bit" if self.smtp.supports_extension("8bitmime") else "7bit"
        return await self.send(
            flatten_message(message, utf8=utf8, cte_type=cte_type), sender, recipients
        )

    async def send(
        self, data: bytes, sender: str, recipients: Sequence[str]
    ) -> tuple[Refused, str]:
        """One transaction for serialised ``data``: the refused recipients and the final reply.

        Raises aiosmtplib's errors as its ``sendmail`` would (``SMTPSenderRefused``,
        ``SMTPRecipientsRefused``, ``SMTPDataError``, disconnects and time-outs), and
        :class:`UnconfirmedError` when the content went out without a final reply.
        """
        utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
        encoding = "utf-8" if utf8 else "ascii"
        options = _mail_options(self.smtp, data, utf8)
        mail = b" ".join((b"MAIL", b"FROM:" + _path(sender, encoding), *options)) + CRLF
        rcpts = [b"RCPT TO:" + _path(r, encoding) + CRLF for r in recipients]
        content = _normalized(data)
        await self._admit()
        try:
            self._attach()
            if self.pipelining:
                replies = await self._pipelined(mail, rcpts, content)
            else:
                replies = await self._lockstep(mail, rcpts, content)
            final = replies[2]
            if replies[0].code == SMTPStatus.completed and (final is None or final.code != 250):
                await self._reset()
        except asyncio.CancelledError:
            # as aiosmtplib's close: the content must not go out after 354 for a send that
            # is gone (its recipient stays "sending" and is sent again on resume)
            self._abort(aiosmtplib.SMTPServerDisconnected("a send was cancelled mid-transaction"))
            raise
        finally:
            self._leave()
        return _outcome(sender, recipients, *replies)

    # --- the two ways -------------------------------------------------------------------

    async def _pipelined(self, mail: bytes, rcpts: list[bytes], content: bytes) -> _Replies:
        txn = _Txn(b"" if self.chunking else _stuffed(content), len(rcpts))
        rset = None
        if self._dirty or any(step.kind != "END" for step in self._steps):
            # the server may still hold a sender, this MAIL must not nest inside it: whether
            # an RSET goes first is decided when the group is written (see _reset_first)
            rset = self._step("RSET", txn)
        chunks = [mail]
        mail_step = self._step("MAIL", txn)
        rcpt_steps = []
        for command in rcpts:
            chunks.append(command)
            rcpt_steps.append(self._step("RCPT", txn))
        start = None
        if self.chunking:
            chunks += (b"BDAT %d LAST\r\n" % len(content), content)
            end = self._step("BDAT", txn)
            txn.body_sent = True
        else:
            chunks.append(b"DATA\r\n")
            start, end = self._step("DATA", txn), self._step("END", txn)
        self._queue(b"".join(chunks), blocks=not self.chunking, rset=rset)
        if rset is not None:
            await self._await(txn, rset)
        mail_reply = await self._await(txn, mail_step)
        rcpt_replies = [await self._await(txn, step) for step in rcpt_steps]
        start_reply = await self._await(txn, start) if start is not None else None
        return mail_reply, rcpt_replies, _final(txn, start_reply, await self._await(txn, end))

    async def _lockstep(self, mail: bytes, rcpts: list[bytes], content: bytes) -> _Replies:
        txn = _Txn(b"" if self.chunking else _stuffed(content), len(rcpts))
        if self._dirty:
            self._dirty = False
            await self._await(txn, self._write_step(b"RSET\r\n", "RSET", txn))
        mail_reply = await self._await(txn, self._write_step(mail, "MAIL", txn))
        if not txn.mail_ok:
            return mail_reply, [], None
        rcpt_replies = [await self._await(txn, self._write_step(c, "RCPT", txn)) for c in rcpts]
        if not txn.accepted:
            self._dirty = True
            return mail_reply, rcpt_replies, None
        if self.chunking:
            txn.body_sent = True
            command = b"BDAT %d LAST\r\n%s" % (len(content), content)
            return (
                mail_reply,
                rcpt_replies,
                await self._await(txn, self._write_step(command, "BDAT", txn)),
            )
        start, end = self._step("DATA", txn), self._step("END", txn)
        self._queue(b"DATA\r\n", blocks=True)
        start_reply = await self._await(txn, start)
        return mail_reply, rcpt_replies, _final(txn, start_reply, await self._await(txn, end))

    async def _reset(self) -> None:
        """RSET after a failed transaction: now when the connection is otherwise quiet,
        else in front of the next MAIL (pipelined with it)."""
        self._dirty = True
        if self._inflight > 1 or self._steps:
            return
        self._dirty = False
        txn = _Txn(b"")
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            # gone or confused: the pool discards a connection that is no longer connected
            await self._await(txn, self._write_step(b"RSET\r\n", "RSET", txn))

    # --- steps, writes and replies ---------------------------------------------------------

    def _step(self, kind: str, txn: _Txn) -> _Step:
        loop = asyncio.get_running_loop()
        step = _Step(loop.create_future(), kind, txn)
        self._steps.append(step)
        if self._watchdog is None and self.timeout is not None:
            self._active = loop.time()
            self._watchdog = loop.call_at(self._active + self.timeout, self._watch)
        return step

    def _watch(self) -> None:
        """Time out the replies due when the connection has been silent for too long."""
        self._watchdog = None
        if not self._steps or self.timeout is None:
            return
        loop = asyncio.get_running_loop()
        due = self._active + self.timeout
        if loop.time() < due:
            self._watchdog = loop.call_at(due, self._watch)
            return
        self.timed_out = self.timed_out or self.pipelining
        self._abort(aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"))

    def _write_step(self, command: bytes, kind: str, txn: _Txn) -> _Step:
        step = self._step(kind, txn)
        self._queue(command, blocks=False)
        return step

    def _queue(self, chunk: bytes, *, blocks: bool, rset: _Step | None = None) -> None:
        """Write ``chunk`` now, or after the content of a DATA that waits for 354."""
        self._out.append((chunk, blocks, rset))
        self._pump()

    def _reset_first(self, chunk: bytes, rset: _Step) -> bytes:
        """``chunk`` with an RSET in front when, as it goes out, a transaction may be open.

        An earlier group still waiting for a reply other than its content's may leave a
        sender behind (every RCPT refused, DATA or BDAT refused); once only content
        replies are due, every earlier transaction is closed and the RSET is dropped.
        """
        needed = self._dirty
        for step in self._steps:
            if needed or step is rset:
                break
            needed = step.kind != "END"
        if needed:
            self._dirty = False
            return b"RSET\r\n" + chunk
        self._steps.remove(rset)
        rset.future.set_result(_NOT_NEEDED)
        return chunk

    def _pump(self, first: bytes = b"") -> None:
        """Write what is queued up to (and with) the next DATA, in one write."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        parts = [first] if first else []
        while self._out and not self._awaiting_start:
            chunk, blocks, rset = self._out.popleft()
            parts.append(chunk if rset is None else self._reset_first(chunk, rset))
            self._awaiting_start = blocks
        if parts:
            transport.write(b"".join(parts) if len(parts) > 1 else parts[0])
            self._active = self._loop_time()

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    async def _await(self, txn: _Txn, step: _Step) -> SMTPResponse:
        """The reply to ``step``; a time-out or a lost connection ends the connection.

        The reply to the content of a DATA refused before it (no content, no reply) is
        that refusal.
        """
        try:
            return await step.future
        except aiosmtplib.SMTPReadTimeoutError as exc:  # from the watchdog
            error = self._lost(txn, exc)
            raise error from error.__cause__
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._lost(txn, exc) from exc

    def _lost(self, txn: _Txn, exc: Exception) -> Exception:
        if isinstance(exc, aiosmtplib.SMTPReadTimeoutError):
            exc = aiosmtplib.SMTPTimeoutError("Timed out waiting for server response")
        if txn.body_sent and not txn.refused():
            unconfirmed = UnconfirmedError(f"no reply after the message was sent: {exc}")
            unconfirmed.__cause__ = exc
            return unconfirmed
        return exc

    def data_received(self, data: bytes) -> None:
        self._active = self._loop_time()
        self._buffer += data
        while True:
            reply = self._parse()
            if reply is None:
                return
            self._on_reply(reply)

    def _parse(self) -> SMTPResponse | None:
        """The first whole reply in the buffer (multi-line ones joined), or None."""
        buffer = self._buffer
        offset = 0
        lines: list[bytes] = []
        while True:
            end = buffer.find(b"\n", offset)
            if end < 0:
                if len(buffer) > MAX_RESPONSE_LENGTH:
                    self._abort(aiosmtplib.SMTPResponseException(-1, "Response too long"))
                return None
            line = bytes(buffer[offset : end + 1])
            offset = end + 1
            if len(line) > MAX_LINE_LENGTH or not line[:3].isdigit():
                self._abort(aiosmtplib.SMTPResponseException(-1, f"Malformed reply: {line!r}"))
                return None
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del buffer[:offset]
                text = b"\n".join(lines).decode("utf-8", "surrogateescape")
                return SMTPResponse(int(line[:3]), text)

    def _on_reply(self, reply: SMTPResponse) -> None:
        if not self._steps:
            return  # unsolicited (a 421 before closing, say): the close itself will tell
        step = self._steps.popleft()
        txn = step.txn
        if step.kind == "MAIL":
            txn.mail_code = reply.code
            txn.mail_ok = reply.code == SMTPStatus.completed
        elif step.kind == "RCPT":
            txn.answered += 1
            txn.accepted += reply.code in _ACCEPTED
        elif step.kind == "DATA":
            self._start_input(reply, txn)
        elif step.kind == "BDAT" and reply.code != SMTPStatus.completed:
            self._dirty = self._dirty or txn.mail_ok
        if not step.future.done():
            step.future.set_result(reply)

    def _start_input(self, reply: SMTPResponse, txn: _Txn) -> None:
        """The reply to DATA: the content (or a lone ".") goes out now, before anything held."""
        first = b""
        if reply.code == SMTPStatus.start_input:
            sending = txn.mail_ok and txn.accepted > 0
            first = txn.body if sending else _LONE_DOT
            txn.body_sent = sending
        else:
            end = self._steps.popleft()  # no content, so no reply to it will come
            if not end.future.done():
                end.future.set_result(reply)
            self._dirty = self._dirty or txn.mail_ok  # the envelope may still stand
        self._awaiting_start = False
        self._pump(first)  # the content and what waited behind it: one write

    # --- the transport ------------------------------------------------------------------

    async def _admit(self) -> None:
        if self._inflight < self.window and not self._admission:
            self._inflight += 1
            return
        future = asyncio.get_running_loop().create_future()
        self._admission.append(future)
        try:
            await future  # the leaving transaction counted us in
        except BaseException:
            if future.done() and not future.cancelled():
                self._inflight -= 1
            elif future in self._admission:
                self._admission.remove(future)
            raise

    def _leave(self) -> None:
        self._inflight -= 1
        while self._admission and self._inflight < self.window:
            future = self._admission.popleft()
            if not future.done():
                self._inflight += 1
                future.set_result(None)
        if not self._inflight:
            self._detach()

    def _attach(self) -> None:
        transport = self.smtp.transport
        if self._transport is not None:
            return
        if not isinstance(transport, asyncio.Transport) or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        self._original = transport.get_protocol()
        self._transport = transport
        transport.set_protocol(self)

    def _detach(self) -> None:
        """Give the transport back to aiosmtplib once every reply has come."""
        transport, original = self._transport, self._original
        if transport is None or original is None or self._steps:
            return
        self._transport = self._original = None
        if not transport.is_closing():
            transport.set_protocol(original)

    def _abort(self, exc: Exception) -> None:
        if self._transport is not None:
            self._transport.abort()  # connection_lost fails the waiting steps
        self._fail_steps(exc)

    def _fail_steps(self, exc: Exception) -> None:
        while self._steps:
            future = self._steps.popleft().future
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: a later step may never be awaited
        self._out.clear()

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        lost = aiosmtplib.SMTPServerDisconnected("Connection lost")
        lost.__cause__ = exc
        self._fail_steps(lost)
        original, self._original = self._original, None
        self._transport = None
        if isinstance(original, asyncio.BaseProtocol):
            original.connection_lost(exc)  # aiosmtplib learns the connection is gone


def _final(txn: _Txn, start: SMTPResponse | None, end: SMTPResponse) -> SMTPResponse | None:
    """The reply that ends a transaction; None after a lone "." (it had no recipient)."""
    if start is not None and start.code == SMTPStatus.start_input and not txn.body_sent:
        return None
    return end


def _normalized(data: bytes) -> bytes:
    """``data`` with CRLF line endings; as it is when it has them already (counts are cheap)."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") == crlf == data.count(b"\r") and data.endswith(b"\r\n"):
        return data
    return normalize_message_line_endings(data)


def _stuffed(content: bytes) -> bytes:
    """Dot-stuffed for DATA, with the final "."."""
    if content.startswith(b".") or b"\n." in content:
        content = PERIOD_REGEX.sub(b"..", content)
    return content + b".\r\n"


def _outcome(
    sender: str,
    recipients: Sequence[str],
    mail: SMTPResponse,
    rcpts: list[SMTPResponse],
    final: SMTPResponse | None,
) -> tuple[Refused, str]:
    """The result of a transaction from its replies, or the error aiosmtplib would raise."""
    if mail.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
    refused = {a: r for a, r in zip(recipients, rcpts, strict=True) if r.code not in _ACCEPTED}
    if len(refused) == len(recipients):
        raise aiosmtplib.SMTPRecipientsRefused(
            [aiosmtplib.SMTPRecipientRefused(r.code, r.message, a) for a, r in refused.items()]
        )
    if final is None:
        raise aiosmtplib.SMTPDataError(SMTPStatus.invalid_response, "no reply to the message")
    if final.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(final.code, final.message)
    return refused, f"{final.code} {final.message}"
