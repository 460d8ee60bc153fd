"""The sending process's side of the channel: runs one campaign and tells its followers.

:func:`serve` runs inside ``smtpdesk campaign serve ID``. It listens on 127.0.0.1 (a port
the system picks) and writes ``<data dir>/senders/<id>.json`` = ``{"pid", "port",
"token"}``, then runs :class:`CampaignRunner` as ``campaign send`` does. Each follower that
proves it read the file (its first line is the token) gets the latest progress at once, every
progress after it (at most 10 a second), and at the end ``ended`` or ``failed``; it may ask
to pause or cancel. The file goes when the run ends; after a kill -9 it stays, and followers
find its pid dead (see ``follower.sender_channel``), while the runner lease lets the next
run resume the campaign.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
from typing import Any

from smtpdesk.core.campaign.engine import CampaignRunner, pause_on_signals
from smtpdesk.core.campaign.ledger import USER_PAUSE, CampaignState, Ledger
from smtpdesk.core.campaign.progress import Progress
from smtpdesk.core.errors import KnownError
from smtpdesk.core.service.channel import (
    MAX_LINE,
    ChannelError,
    ChannelInfo,
    diagnosis_to_dict,
    encode_message,
    progress_to_dict,
    read_message,
    remove_channel,
    require_field,
    write_channel,
)
from smtpdesk.core.smtp.types import Diagnosis
from smtpdesk.core.store import Store

log = logging.getLogger(__name__)
AUTH_SECONDS = 5.0  # a follower that has not sent its token by then is cut off
MAX_BUFFERED = 4 << 20  # bytes waiting for a follower that does not read: it is cut off
CLOSE_SECONDS = 2.0  # time the last message has to reach the followers at the end


class _Hub:
    """The followers of one run, and what to send each of them."""

    def __init__(self, runner: CampaignRunner, token: str) -> None:
        self.runner = runner
        self.token = token.encode()
        self.followers: set[asyncio.StreamWriter] = set()  # those that gave the token
        self.connections: set[asyncio.StreamWriter] = set()  # every open connection
        self.handlers: set[asyncio.Task[None]] = set()
        self.latest: bytes | None = None  # the last progress, for a follower that connects
        self.final: bytes | None = None  # ended or failed, once the run is over

    def progress(self, progress: Progress) -> None:
        """The runner's ``on_progress``: on the loop, at most 10 times a second. Never
        raises: a figure too large for the channel must not stop the run."""
        try:
            line = encode_message({"event": "progress", "progress": progress_to_dict(progress)})
        except (ChannelError, ValueError, TypeError):
            log.exception("campaign %s: progress not sent to followers", progress.campaign_id)
            return
        self.latest = line
        for writer in list(self.followers):
            self._send(writer, line)

    def end(self, message: dict[str, Any]) -> None:
        try:
            self.final = encode_message(message)
        except ChannelError:  # over the limit: shortened, and without the diagnosis
            short = {k: v[:10_000] if isinstance(v, str) else v for k, v in message.items()}
            self.final = encode_message({**short, "blocked": None} if "blocked" in short else short)
        for writer in list(self.followers):
            self._send(writer, self.final)

    def _send(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        if writer.is_closing() or writer.transport.get_write_buffer_size() > MAX_BUFFERED:
            self._drop(writer)  # gone, or not reading: the run must not wait for it
            return
        writer.write(line)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self.followers.discard(writer)
        writer.transport.abort()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        self.connections.add(writer)
        try:
            await self._converse(reader, writer)
        except (ChannelError, TimeoutError, ConnectionError) as exc:
            log.info("a follower was cut off: %s", exc)
        finally:
            self.followers.discard(writer)
            self.connections.discard(writer)
            writer.close()  # not abort: what was written still reaches the follower
            if task is not None:
                self.handlers.discard(task)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(AUTH_SECONDS):
            first = await read_message(reader)
        if first is None:
            return
        token = require_field(first, "token", str)
        if not hmac.compare_digest(token.encode(), self.token):
            raise ChannelError("wrong token")
        if self.final is not None:  # the run is over: tell and let go
            writer.write(self.final)
            await writer.drain()
            return
        self.followers.add(writer)
        if self.latest is not None:
            writer.write(self.latest)
        while (message := await read_message(reader)) is not None:
            self._command(message, writer)

    def _command(self, message: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op = require_field(message, "op", str)
        if op == "pause":
            reason = message.get("reason") or USER_PAUSE
            if not isinstance(reason, str):
                raise ChannelError("'reason' is not a string")
            self.runner.pause(reason[:500])
        elif op == "cancel":
            self.runner.cancel()
        else:
            raise ChannelError(f"unknown op {op[:50]!r}")
        if writer in self.followers:
            self._send(writer, encode_message({"event": "ack", "op": op}))

    async def close(self) -> None:
        """Give the last message a moment to leave, then close every connection."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_SECONDS):
                for writer in list(self.followers):
                    with contextlib.suppress(ConnectionError):
                        await writer.drain()
        for writer in list(self.connections):
            writer.close()
        self.followers.clear()
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=CLOSE_SECONDS)
        left = list(self.handlers)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


async def serve(store: Store, campaign_id: int) -> tuple[CampaignState, CampaignRunner]:
    """Send the campaign, followed over a channel; return its state and the runner.

    A :class:`KnownError` that stops the run from starting (a template error, no server, a
    bad id) is told to the followers as ``failed`` and raised. SIGTERM and SIGINT pause the
    run with reason ``interrupted``, as in ``campaign send``.
    """
    await asyncio.to_thread(Ledger(store).campaign, campaign_id)  # a bad id: no file at all
    runner = CampaignRunner(store, campaign_id)
    hub = _Hub(runner, secrets.token_hex(32))
    runner.on_progress = hub.progress
    server = await asyncio.start_server(hub.handle, "127.0.0.1", 0, limit=MAX_LINE)
    info = ChannelInfo(os.getpid(), int(server.sockets[0].getsockname()[1]), hub.token.decode())
    try:
        path = await asyncio.to_thread(write_channel, store.folder, campaign_id, info)
    except BaseException:  # another live sender's file is there
        server.close()
        await hub.close()
        await server.wait_closed()
        raise
    try:
        with pause_on_signals(runner):
            try:
                state = await runner.run()
            except Exception as exc:
                hub.end(_failed(exc, runner))
                raise
        blocked: Diagnosis | None = runner.blocked
        hub.end(
            {
                "event": "ended",
                "state": str(state),
                "reason": runner.pause_reason,
                "blocked": diagnosis_to_dict(blocked),
            }
        )
        return state, runner
    finally:
        # New followers find nobody from here on; those connected get the end first.
        await asyncio.to_thread(remove_channel, path, info.pid)
        server.close()
        await hub.close()
        await server.wait_closed()


def _failed(exc: Exception, runner: CampaignRunner) -> dict[str, Any]:
    """The ``failed`` message: the KnownError's words, or for our bug what the runner stored."""
    if isinstance(exc, KnownError):
        return {"event": "failed", "message": exc.message, "hint": exc.hint}
    from smtpdesk.core.logs import current_log, redact

    where = current_log()
    return {
        "event": "failed",
        "message": runner.pause_reason
        or redact(f"The campaign stopped by an unexpected error: {exc}"),
        "hint": f"Details are in the log: {where}" if where else "",
    }
