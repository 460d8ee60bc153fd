"""Worker processes for campaigns at an unlimited rate: the CPU of sending on every core.

The parent (:class:`~smtpdesk.core.campaign.engine.CampaignRunner`) keeps every decision:
claims, suppression, greylisting, back-off and blocking, the outcomes and the one
ledger writer. A worker process only does the CPU-bound part of one attempt (render,
MIME, DKIM, the SMTP transaction) through its own loop and its own
:class:`~smtpdesk.core.smtp.messenger.MessengerSender`, which holds its share of each
server's connections; the attempt's result goes back to the parent and through the same
code as an attempt made in the parent.

The channel is the worker's stdin and a copy of its stdout (stdout itself then points
at stderr, so a stray print cannot corrupt it): frames of a 4-byte length and a pickle.
Items and results travel in batches, one frame per turn of either loop (at 4,000 msg/s,
~4 items a frame to a worker and ~2.5 results a frame back). The worker's side is
:mod:`smtpdesk.core.campaign.worker_process`.

Crashes: a worker that dies (kill -9) ends its pipe; the parent fails the attempts it
had in flight with ``worker_lost``, which the engine sends again through the others
(the only possible duplicates), and starts a replacement, up to ``MAX_DEATHS`` deaths a
run, then asks the run to pause. A parent that dies ends the workers' stdin: they stop
at once (on Linux the kernel also kills them, ``PR_SET_PDEATHSIG``), and the next run's
``Ledger.recover`` puts the recipients left ``sending`` back to ``pending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pickle
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import MAX_RATE, AuthProtocol, ServerSettings
from smtpdesk.core.smtp.types import Diagnosis, SendError, SendResult, ServerStats

log = logging.getLogger(__name__)
WORKER_FLAG = "--smtpdesk-campaign-worker"  # argv[1] of a frozen executable run as a worker
# "auto" starts workers from this many cores. The parent (claims, outcomes, the ledger)
# costs ~80 us a message and a worker ~260-380 (the pipes included), against ~240 for the
# whole engine in one process: on 2 shared cores it went from 30% slower to 30% faster
# with the other load (bench/RESULTS.md, issue 13, "Worker processes"); with more cores
# the parent alone would carry ~12,000 msg/s.
AUTO_MIN_CPUS = 2
MAX_DEATHS = 3  # workers dying this often in one run: pause, something is wrong
START_SECONDS = 60.0  # a worker that is not ready by then is given up
CLOSE_SECONDS = 10.0  # a worker that has not exited by then after "close" is killed
STATS_SECONDS = 0.1  # a worker reports its servers' figures this often (progress: 10/s)
_HEADER = struct.Struct(">I")
Item = tuple[int, str, dict[str, Any]]  # the engine's (recipient id, email, fields)
Attempt = tuple[SendResult, str | None]  # the server's acceptance and the Message-ID


class RenderFailure(KnownError):
    """A worker could not render a recipient's message (the template or a header)."""

    def __init__(self, cause: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.cause = cause


def lost_diagnosis(detail: str) -> Diagnosis:
    return Diagnosis(
        "worker_lost",
        f"A sending process stopped unexpectedly ({detail}).",
        ("Its messages in flight are sent again through the other sending processes.",),
        temporary=True,
    )


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to render and send (picklable; no secret: it reads the keyring)."""

    content: CampaignContent
    columns: tuple[str, ...]
    unsubscribe_address: str
    verp_address: str
    messenger: str
    servers: tuple[ServerSettings, ...]  # with this worker's share of max_conns
    pool_options: dict[str, Any]


# --- when, and how many ----------------------------------------------------------------


def worker_count(
    setting: int | None,
    *,
    message_rate: float,
    sliding_window: bool,
    servers: Sequence[ServerSettings],
    pool_options: dict[str, Any],
    cpus: int | None = None,
) -> int:
    """How many worker processes a run uses; 0: send in this process, as always.

    Only at an unlimited rate (the token bucket, the window and the servers' own limits
    live in the parent's loop) and at most one worker per connection of the smallest
    server, so that each worker holds some of every server's. ``setting``: the app's
    ``worker_processes``: None ("auto") one per core, from AUTO_MIN_CPUS cores; 0 never;
    N: N, even on one core.
    """
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    if setting == 0 or (setting is None and cpus < AUTO_MIN_CPUS) or not servers:
        return 0
    if sys.platform == "win32":  # the workers' pipes as asyncio streams: tried on POSIX only
        return 0
    if message_rate < MAX_RATE or sliding_window or "tls_context" in pool_options:
        return 0
    for server in servers:
        if server.max_per_second or server.max_per_hour or server.max_per_day:
            return 0
        if server.auth_protocol == AuthProtocol.XOAUTH2:
            return 0  # one sign-in's tokens, refreshed by one process
    wanted = cpus if setting is None else setting
    return max(0, min(wanted, min(s.max_conns for s in servers)))


def share(servers: Sequence[ServerSettings], count: int, index: int) -> tuple[ServerSettings, ...]:
    """Worker ``index``'s servers: each one's max_conns split evenly, the extra to the first."""
    return tuple(
        dataclasses.replace(
            s, max_conns=s.max_conns // count + (1 if index < s.max_conns % count else 0)
        )
        for s in servers
    )


def merge_stats(
    per_worker: Sequence[Sequence[ServerStats]], retired: Sequence[ServerStats] = ()
) -> list[ServerStats]:
    """One figure per server across the live workers: healthy if any worker's pool is.

    ``retired``: the last figures of workers that died, whose counts still add up.
    """
    merged: dict[str, list[ServerStats]] = {}
    for stats in per_worker:
        for s in stats:
            merged.setdefault(s.server_uuid, []).append(s)
    result = {uuid: _merge(parts) for uuid, parts in merged.items()}
    for old in retired:
        now = result.get(old.server_uuid)
        if now is not None:
            result[old.server_uuid] = dataclasses.replace(
                now,
                sent=now.sent + old.sent,
                failed=now.failed + old.failed,
                retried=now.retried + old.retried,
                wait_seconds=now.wait_seconds + old.wait_seconds,
            )
    return list(result.values())


def _merge(parts: list[ServerStats]) -> ServerStats:
    sent = sum(p.sent for p in parts)
    healthy = any(p.healthy for p in parts)
    errors = [p.last_error for p in parts if p.last_error is not None]
    ill = [p for p in parts if not p.healthy]
    return ServerStats(
        server_uuid=parts[0].server_uuid,
        label=parts[0].label,
        connections_open=sum(p.connections_open for p in parts),
        connections_busy=sum(p.connections_busy for p in parts),
        sent=sent,
        failed=sum(p.failed for p in parts),
        retried=sum(p.retried for p in parts),
        mean_send_seconds=(
            sum(p.mean_send_seconds * p.sent for p in parts) / sent if sent else 0.0
        ),
        wait_seconds=sum(p.wait_seconds for p in parts),
        last_error=(ill[0].last_error if ill and ill[0].last_error else None)
        or (errors[-1] if errors else None),
        healthy=healthy,
        backoff=0.0 if healthy else min(p.backoff for p in ill),
    )


def frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))  # our own child's or parent's


def worker_command() -> list[str]:
    """How to start a worker: this module, or the frozen executable with the worker flag."""
    if getattr(sys, "frozen", False):
        return [sys.executable, WORKER_FLAG]
    return [sys.executable, "-m", "smtpdesk.core.campaign.worker_process"]


# --- the parent's side -----------------------------------------------------------------


class _Worker:
    """One worker process as the parent sees it: its pipe, its attempts in flight."""

    def __init__(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.index = index
        self.process = process
        self.pending: dict[int, asyncio.Future[Attempt]] = {}
        self.outbox: list[tuple[int, Item, str]] = []
        self.stats: list[ServerStats] = []
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None
        self.alive = True
        self.crashed = False  # ended before the pool closed it
        self.refusal: KnownError | None = None  # why its set-up failed, in its words

    @property
    def pid(self) -> int:
        return self.process.pid


def _is_ready(worker: _Worker) -> bool:
    return worker.ready.done() and worker.ready.exception() is None


class WorkerPool:
    """The parent's handle on its worker processes; quacks like the engine's ``Sender``
    for :meth:`stats` and :meth:`close`, and :meth:`attempt` replaces render + send."""

    def __init__(
        self,
        setups: Sequence[WorkerSetup],
        *,
        on_rendered: Callable[[], None] = lambda: None,
        on_trouble: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.setups = list(setups)
        self.workers: list[_Worker] = []
        self.deaths = 0
        self.on_rendered = on_rendered
        self._on_trouble = on_trouble
        self._seq = 0
        self._retired: list[ServerStats] = []  # the figures of workers that died
        self._closing = False
        self._started = False  # start() has returned: a refusal now comes from a replacement
        self._spawning: set[asyncio.Task[None]] = set()

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.alive]

    async def start(self) -> None:
        """Start every worker; return once one is ready (the others join when they are).

        A worker's own refusal (a KnownError of its set-up, such as a key missing from the
        keyring) is raised: every worker would say the same. A worker that dies while it
        starts is replaced as one that dies later is.
        """
        await asyncio.gather(*(self._spawn(i) for i in range(len(self.setups))))
        try:
            async with asyncio.timeout(START_SECONDS):
                await self._first_ready()
        except TimeoutError:
            raise KnownError(
                f"The sending processes did not start within {START_SECONDS:.0f} s.",
                "The computer may be very busy; set worker_processes to 0 to send from one.",
            ) from None

    async def _first_ready(self) -> None:
        while True:
            for worker in self.workers:
                if worker.refusal is not None:
                    raise worker.refusal
            if any(w.alive and _is_ready(w) for w in self.workers):
                self._started = True
                return
            starting: list[asyncio.Future[Any]] = [
                w.ready for w in self.workers if w.alive and not w.ready.done()
            ]
            starting += self._spawning
            if not starting:
                raise KnownError(lost_diagnosis("while starting").message)
            await asyncio.wait(starting, return_when=asyncio.FIRST_COMPLETED)

    async def _spawn(self, index: int) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            *worker_command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
        )
        worker = _Worker(index, process)
        self.workers.append(worker)
        assert process.stdin is not None
        process.stdin.write(frame(self.setups[index]))
        worker.reader = asyncio.create_task(self._listen(worker), name=f"worker-{index}")
        return worker

    async def attempt(self, item: Item, token: str) -> Attempt:
        """Render and send ``item`` once in the least busy worker; raise as ``_send`` would."""
        worker = await self._pick()
        self._seq += 1
        future: asyncio.Future[Attempt] = asyncio.get_running_loop().create_future()
        worker.pending[self._seq] = future
        if not worker.outbox:
            asyncio.get_running_loop().call_soon(self._flush, worker)
        worker.outbox.append((self._seq, item, token))
        return await future

    async def _pick(self) -> _Worker:
        while True:
            ready = [w for w in self.workers if w.alive and _is_ready(w)]
            if ready:
                return min(ready, key=lambda w: len(w.pending))
            starting = [w.ready for w in self.workers if w.alive and not w.ready.done()]
            if not starting:
                raise SendError(lost_diagnosis("no sending process is left"))
            await asyncio.wait(starting, return_when=asyncio.FIRST_COMPLETED)

    def _flush(self, worker: _Worker) -> None:
        batch, worker.outbox = worker.outbox, []
        if not batch or not worker.alive:
            return
        stdin = worker.process.stdin
        assert stdin is not None
        with contextlib.suppress(ConnectionError, RuntimeError):  # it died: its reader sees it
            stdin.write(frame(("send", batch)))

    async def _listen(self, worker: _Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        detail = "its pipe closed"
        try:
            while True:
                message = await read_frame(stdout)
                if message[0] == "results":
                    self._results(worker, *message[1:])
                elif message[0] == "ready":
                    worker.ready.set_result(None)
                elif message[0] == "error":  # its setup failed: e.g. the keyring is locked
                    worker.refusal = KnownError(message[1], message[2])
                    if not worker.ready.done():  # wakes start()
                        worker.ready.set_exception(worker.refusal)
                        worker.ready.exception()  # retrieved: start() raises the refusal
                    detail = message[1]
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # a garbled frame is our bug: the worker is dropped as if dead
            log.exception("the channel of sending process %s broke", worker.index)
            detail = "its channel broke"
        await self._ended(worker, detail)

    def _results(
        self,
        worker: _Worker,
        stats: list[ServerStats] | None,
        rendered: bool,
        results: list[Any],
    ) -> None:
        if stats is not None:
            worker.stats = stats
        if rendered:
            self.on_rendered()
        for seq, kind, value in results:
            future = worker.pending.pop(seq)
            if future.done():
                continue
            if kind == "sent":  # plain tuples: a dataclass pickles several times slower
                uuid, reply, attempts, refused, message_id = value
                future.set_result((SendResult(uuid, reply, attempts, refused), message_id))
            elif kind == "send_error":
                future.set_exception(SendError(*value))
            elif kind == "render_error":
                future.set_exception(RenderFailure(*value))
            elif kind == "known":
                future.set_exception(KnownError(*value))
            else:
                future.set_exception(RuntimeError(f"in a sending process: {value}"))

    async def _ended(self, worker: _Worker, detail: str) -> None:
        worker.alive = False
        if not self._closing:  # closing: it ends its pipe, then exits (close() waits)
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()  # a worker whose pipe broke but still runs
        code = await worker.process.wait()
        reason = f"exit code {code}" if code else detail
        lost = [future for future in worker.pending.values() if not future.done()]
        worker.pending.clear()
        for future in lost:  # sent again through the others: the only possible duplicates
            future.set_exception(SendError(lost_diagnosis(reason)))
        if worker.refusal is not None:  # another would refuse the same: stop the run
            if self._started and not self._closing:
                self._on_trouble(f"a sending process could not start again: {worker.refusal}")
            return  # (while starting, start() raises it)
        if self._closing and not lost:
            return  # its last figures still count, as a live worker's
        worker.crashed = True
        self._retired.extend(worker.stats)
        self.deaths += 1
        log.warning("sending process %s (pid %s) ended: %s", worker.index, worker.pid, reason)
        if not worker.ready.done():
            worker.ready.set_exception(KnownError(lost_diagnosis(reason).message))
            worker.ready.exception()  # retrieved: start() or _pick() report it
        if self._closing:
            return
        if self.deaths >= MAX_DEATHS:
            self._on_trouble(
                f"the sending processes stopped unexpectedly {self.deaths} times; "
                f"the last: {reason}"
            )
            return
        task = asyncio.create_task(self._respawn(worker.index))
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)

    async def _respawn(self, index: int) -> None:
        try:
            await self._spawn(index)
        except OSError as exc:
            self._on_trouble(f"a sending process could not be started again: {exc}")

    def stats(self) -> list[ServerStats]:
        return merge_stats([w.stats for w in self.workers if not w.crashed], self._retired)

    async def close(self) -> None:
        """Ask each worker to finish and exit; kill one that does not within CLOSE_SECONDS."""
        self._closing = True
        for task in list(self._spawning):
            task.cancel()
        for worker in self.workers:
            stdin = worker.process.stdin
            if worker.alive and stdin is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    stdin.write(frame(("close",)))
                    stdin.close()
        for worker in self.workers:
            try:
                await asyncio.wait_for(worker.process.wait(), CLOSE_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        readers = [w.reader for w in self.workers if w.reader is not None]
        await asyncio.gather(*readers, return_exceptions=True)
