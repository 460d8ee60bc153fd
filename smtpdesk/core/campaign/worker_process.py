"""A campaign's worker process (see :mod:`smtpdesk.core.campaign.workers` for the contract).

Started as ``python -m smtpdesk.core.campaign.worker_process`` (frozen: the bundle's
executable with ``--smtpdesk-campaign-worker``). It reads a :class:`WorkerSetup` and then
batches of items on stdin, renders and sends each once through its own loop and
``MessengerSender``, and writes the results back in batches on a copy of its stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from typing import Any

from smtpdesk.core.campaign.content import Renderer, blank_fields, template_fields
from smtpdesk.core.campaign.mime import envelope, message_id_of
from smtpdesk.core.campaign.workers import STATS_SECONDS, Item, WorkerSetup, frame, read_frame
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback.tokens import return_path
from smtpdesk.core.messengers import Messenger
from smtpdesk.core.smtp.messenger import MessengerSender
from smtpdesk.core.smtp.types import SendError

log = logging.getLogger(__name__)


class WorkerLoop:
    """In the worker process: render and send each item once, report in batches."""

    def __init__(self, setup: WorkerSetup, out: asyncio.StreamWriter | Any) -> None:
        self.setup = setup
        self.renderer = Renderer(setup.content)
        self.renderer.unsubscribe_address = setup.unsubscribe_address
        self.blanks = blank_fields(setup.columns)
        self.sender = MessengerSender(
            Messenger(setup.messenger, setup.servers), **setup.pool_options
        )
        self.out = out
        self.results: list[tuple[int, str, Any]] = []
        self.rendered = False
        self.failed = False  # a send failed since the figures were last sent
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_report = 0.0
        self._warm_up()

    def _warm_up(self) -> None:
        """Render once before saying ready: the first recipients then do not wait for the
        imports and caches a first render pays."""
        with contextlib.suppress(Exception):  # a recipient's own render reports errors
            self.renderer.render(template_fields("warm-up@example.invalid", {}, self.blanks))

    def take(self, batch: list[tuple[int, Item, str]]) -> None:
        for seq, item, token in batch:
            task = asyncio.create_task(self._one(seq, item, token))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _one(self, seq: int, item: Item, token: str) -> None:
        """One attempt; anything but its result or SendError still answers the parent,
        which raises it where the attempt was made, as an attempt in its own process would."""
        try:
            await self._attempt(seq, item, token)
        except KnownError as exc:  # e.g. a signing server's DKIM key missing: stops the run
            self._report(seq, "known", (exc.message, exc.hint))
        except Exception as exc:  # our bug
            log.exception("sending process: unexpected error")
            self._report(seq, "bug", f"{type(exc).__name__}: {exc}")

    async def _attempt(self, seq: int, item: Item, token: str) -> None:
        _, email, fields = item
        try:  # on this loop, always: it only serves connections, under the render limits
            message = self.renderer.render(template_fields(email, fields, self.blanks), token)
        except KnownError as exc:
            self._report(
                seq,
                "render_error",
                (getattr(exc, "cause", "template_error"), exc.message, exc.hint),
            )
            return
        self.rendered = True
        verp = return_path(self.setup.verp_address, token)
        payload, sender = envelope(message, self.setup.content.from_address, verp)
        try:
            result = await self.sender.send(payload, sender=sender, recipients=[email])
        except SendError as exc:
            self.failed = True
            self._report(seq, "send_error", (exc.diagnosis, exc.server_uuid, exc.attempts))
            return
        self._report(
            seq,
            "sent",
            (
                result.server_uuid,
                result.reply,
                result.attempts,
                result.refused,
                message_id_of(message),
            ),
        )

    def _report(self, seq: int, kind: str, value: Any) -> None:
        if not self.results:
            asyncio.get_running_loop().call_soon(self.flush)  # the results of this turn
        self.results.append((seq, kind, value))

    def flush(self) -> None:
        """Send this turn's results; the servers' figures with them after a failure (the
        parent decides on waiting and blocking with them) or every STATS_SECONDS."""
        results, self.results = self.results, []
        now = time.monotonic()
        stats = None
        if self.failed or now - self.last_report >= STATS_SECONDS:
            stats, self.failed, self.last_report = self.sender.stats(), False, now
        self.out.write(frame(("results", stats, self.rendered, results)))

    async def report_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_SECONDS)
            if time.monotonic() - self.last_report >= STATS_SECONDS:
                self.flush()

    async def close(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.failed = True  # the final figures, whatever the time
        self.flush()
        await self.sender.close()


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (no orphan sends on)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(1)


async def _serve(channel_in: int, channel_out: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26, loop=loop)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(channel_in, "rb", 0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(channel_out, "wb", 0)
    )
    out = asyncio.StreamWriter(transport, protocol, None, loop)
    try:
        setup = await read_frame(reader)
    except (asyncio.IncompleteReadError, ConnectionError):
        return  # the parent went before it said what to send
    try:
        worker = WorkerLoop(setup, out)
    except KnownError as exc:
        out.write(frame(("error", exc.message, exc.hint)))
        await out.drain()
        return
    out.write(frame(("ready",)))
    stats = asyncio.create_task(worker.report_stats())
    try:
        while True:
            try:
                message = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                os._exit(0)  # the parent is gone: nobody would record what is sent now
            if message[0] == "close":
                break
            worker.take(message[1])
        await worker.close()
        await out.drain()
    finally:
        stats.cancel()


def main() -> int:
    """A worker process: its stdin and stdout are the channel to the parent."""
    _die_with_parent()
    # Ctrl-C in a terminal reaches the whole process group: the parent pauses the run and
    # then closes the workers; a worker stopped by it would be a death to make up for.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel_out = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to stderr, not into the channel
    logging.basicConfig(level=logging.WARNING, format="smtpdesk worker: %(message)s")
    asyncio.run(_serve(0, channel_out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
