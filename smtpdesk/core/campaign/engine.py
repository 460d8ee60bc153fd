"""The campaign engine: claims recipients, renders, rate-limits, sends and records.

One producer claims pending recipients in small batches (committed as ``sending``
before any of them is sent), ``concurrency`` workers render and send them through
the messenger, and :class:`LedgerWriter` commits their outcomes every 250 ms. A
pause or cancel stops the claiming, lets the messages in flight finish and puts the
claimed but unsent recipients back to ``pending``.

Only a recipient the server refused ends ``failed``. A message the server never got
(no connection, TLS or login refused, no free connection) goes back to the queue; when
every server of the messenger is failing so, the run pauses with the servers' own
words (:attr:`CampaignRunner.blocked`) and leaves the rest ``pending``. A message sent
without a final reply ends ``unknown``. A 421 or rate limit waits for the server's
back-off; a greylisted message is sent again after ``greylist_delay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from smtpdesk.core import logs
from smtpdesk.core.campaign import review, workers
from smtpdesk.core.campaign.content import Renderer, TemplateError
from smtpdesk.core.campaign.ledger import (
    HEARTBEAT_SECONDS,
    USER_PAUSE,
    Campaign,
    CampaignState,
    Ledger,
    Outcome,
    RecipientState,
)
from smtpdesk.core.campaign.limits import MessageRate, QuotaCounter, ServerGate, SlidingWindow
from smtpdesk.core.campaign.mime import envelope, message_id_of
from smtpdesk.core.campaign.progress import Progress, Tally
from smtpdesk.core.campaign.suppressions import SuppressionList
from smtpdesk.core.campaign.workers import Attempt, Item, RenderFailure, WorkerPool
from smtpdesk.core.campaign.writer import LedgerWriter
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback.records import unsubscribe_links
from smtpdesk.core.feedback.tokens import make_token, return_path
from smtpdesk.core.settings import MAX_RATE, ServerSettings
from smtpdesk.core.smtp.diagnosis import SERVER_CAUSES
from smtpdesk.core.smtp.types import Diagnosis, SendError, SendResult, ServerStats
from smtpdesk.core.store import Store
from smtpdesk.core.store.db import failure_text, storage_error

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 0.1  # at most 10 progress events a second
SIGNAL_PAUSE = "interrupted"  # the pause reason of Ctrl-C or SIGTERM
MAX_CLAIM = 500
NO_SERVER_WAIT = 0.25
SYSTEMATIC_FAILURES = 3  # the first this many renders of a run fail: pause, it is the template
RATE_LIMIT_TRIES = 5  # a message refused with 421 or a rate limit this often fails (temporary)
GREYLIST_DELAY = 300.0  # seconds before a greylisted message is sent again (servers want 5-15 min)
GREYLIST_TRIES = 3  # greylisted this often, the recipient fails (temporary: retry-failed)
# Causes for which the server never took the message: it goes back to the queue.
# A worker process that died had taken it (workers.py): it may be sent twice, never lost.
_NOT_SENT = SERVER_CAUSES | {
    "no_server_available",
    "pool_wait_timeout",
    "pool_closed",
    "worker_lost",
}
Eligible = Callable[[ServerSettings], bool]
_PARTS = {  # the task names of a run, in words for a pause reason
    "ledger-writer": "saving progress to the database",
    "producer": "claiming recipients from the database",
    "quotas": "counting the servers' hourly and daily limits",
    "progress": "reporting progress",
}


class Sender(Protocol):
    """What the engine needs of ``core.smtp.messenger.MessengerSender``."""

    async def send(
        self,
        message: EmailMessage | bytes,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
        eligible: Eligible | None = None,
    ) -> SendResult: ...

    def stats(self) -> list[ServerStats]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class _Stop:
    state: CampaignState
    reason: str


class CampaignRunner:
    """Sends one campaign; see the package docstring for the contract."""

    def __init__(
        self,
        store: Store,
        campaign_id: int,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        sender: Sender | None = None,
        servers: list[ServerSettings] | None = None,
        greylist_delay: float = GREYLIST_DELAY,
        pool_options: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.ledger = Ledger(store)
        self.campaign_id = campaign_id
        self.on_progress = on_progress
        self._sender = sender
        self._servers = servers
        self.state = CampaignState.DRAFT
        self.pause_reason = ""
        self._stop: _Stop | None = None
        self._wake = asyncio.Event()
        self._waiting = ""
        self.greylist_delay = greylist_delay
        self._pool_options = pool_options or {}  # ServerPool's time-outs and back-offs
        # Why the last run paused because no server could take any message, if it did.
        self.blocked: Diagnosis | None = None
        self.columns: tuple[str, ...] = ()  # the recipient file's, read when starting
        self.token_key: bytes | None = None  # signs unsubscribe tokens (issue 12), if used
        self.verp_address = ""  # VERP: the return path is this address's local+TOKEN@domain
        self._tally: Tally | None = None
        self.workers: WorkerPool | None = None  # the run's worker processes, if it has them

    # --- control -------------------------------------------------------------------

    def pause(self, reason: str = USER_PAUSE) -> None:
        self._request(_Stop(CampaignState.PAUSED, reason))

    def cancel(self) -> None:
        self._request(_Stop(CampaignState.CANCELLED, "cancelled by the user"))

    def _request(self, stop: _Stop) -> None:
        if self._stop is None or stop.state == CampaignState.CANCELLED:
            self._stop = stop
        self._wake.set()

    # --- the run -------------------------------------------------------------------

    async def run(self) -> CampaignState:
        """Send until finished, paused or cancelled; return that state. Resumes a paused one."""
        self._stop = None
        self.blocked = None
        self._wake.clear()
        campaign = await asyncio.to_thread(self.ledger.campaign, self.campaign_id)
        self.state = campaign.state
        if campaign.state in (CampaignState.FINISHED, CampaignState.CANCELLED):
            return campaign.state
        renderer = await asyncio.to_thread(self._prepare, campaign)
        await asyncio.to_thread(self.ledger.claim_runner, self.campaign_id, os.getpid())
        heartbeat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        try:
            if not await self._wait_for_schedule(campaign):
                return await self._finish(campaign)
            return await self._send(campaign, renderer)
        except Exception as exc:
            # Our bug or the machine's: never leave the campaign looking as if it still ran.
            log.exception("campaign %s stopped by an unexpected error", self.campaign_id)
            known = storage_error(exc, self.store.folder)
            if known is None and isinstance(exc, KnownError):
                known = exc  # e.g. a signing server's DKIM key missing from the keyring
            reason = str(known) if known else f"stopped by an unexpected error: {exc}"
            reason = logs.redact(reason)  # what a bug's message quotes: no secret stored
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    self.ledger.set_state, self.campaign_id, CampaignState.PAUSED, reason
                )
            self.state, self.pause_reason = CampaignState.PAUSED, reason
            raise
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await asyncio.to_thread(self.ledger.release_runner, self.campaign_id)

    async def _heartbeat(self) -> None:
        """Renew the lease that shows this run is alive (to ``status`` and other processes)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                held = await asyncio.to_thread(
                    self.ledger.renew_lease, self.campaign_id, os.getpid()
                )
            except Exception:  # the next renewal may work; the lease lasts several
                log.warning("campaign %s: renewing the lease failed", self.campaign_id)
                continue
            if not held:
                self.pause("another process took the campaign over after this one stalled")

    def _prepare(self, campaign: Campaign) -> Renderer:
        """Compile the templates and refuse to start if one uses a field that is no column."""
        renderer = Renderer(campaign.content)
        links = unsubscribe_links(self.store)
        renderer.unsubscribe_address, self.token_key = links.address, links.key
        self.verp_address = links.address if links.verp else ""
        self.columns = review.campaign_columns(self.ledger, self.campaign_id)
        missing = [
            p for p in review.field_problems(campaign.content, self.columns) if not p.guarded
        ]
        if missing:
            raise TemplateError(
                str(missing[0]), "Correct the field's name in the template, or add the column."
            )
        return renderer

    async def _wait_for_schedule(self, campaign: Campaign) -> bool:
        """Wait for ``send_at``; False if paused or cancelled meanwhile."""
        delay = (campaign.send_at or 0.0) - time.time()
        if delay <= 0:
            return True
        self._waiting = time.strftime(
            "scheduled for %Y-%m-%d %H:%M:%S", time.localtime(campaign.send_at)
        )
        self.state = CampaignState.SCHEDULED
        await asyncio.to_thread(self.ledger.set_state, self.campaign_id, CampaignState.SCHEDULED)
        counts = await asyncio.to_thread(self.ledger.counts, self.campaign_id)
        self._tally = Tally.from_counts(counts)
        self._emit(force=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
        self._waiting = ""
        return self._stop is None

    async def _finish(self, campaign: Campaign) -> CampaignState:
        stop = self._stop or _Stop(CampaignState.PAUSED, "")
        self.state, self.pause_reason = stop.state, stop.reason
        await asyncio.to_thread(self.ledger.set_state, self.campaign_id, stop.state, stop.reason)
        self._emit(force=True)
        return stop.state

    async def _send(self, campaign: Campaign, renderer: Renderer) -> CampaignState:
        writer = LedgerWriter(self.ledger, self.campaign_id)
        await writer.call(self.ledger.recover, self.campaign_id)
        counts = await writer.call(self.ledger.counts, self.campaign_id)
        self._tally = Tally.from_counts(counts)
        suppressed = await writer.call(SuppressionList(self.store).suppressed_keys)
        # The servers (SQLite) and the sender's secrets (keyring) are read on the writer's
        # thread: a blocking call on this loop would stall every connection and Pause.
        servers = self._servers
        if servers is None:
            servers = await writer.call(self._messenger_servers, campaign)
        sender: Sender | WorkerPool | None = self._sender
        if sender is None:
            sender = await self._start_workers(campaign, renderer, servers, writer)
        if sender is None:
            sender = await writer.call(self._make_sender, campaign)
        job = _Job(self, campaign, renderer, writer, sender, servers, suppressed)
        self.state, self.pause_reason = CampaignState.RUNNING, ""
        await writer.call(self.ledger.set_state, self.campaign_id, CampaignState.RUNNING, "")
        # Each clean-up step runs even when an earlier one fails (the database may be full).
        async with contextlib.AsyncExitStack() as cleanup:
            cleanup.callback(writer.close)
            if self._sender is None:
                cleanup.push_async_callback(sender.close)
            cleanup.push_async_callback(job.close)
            cleanup.push_async_callback(writer.flush)
            await job.run()
        return await self._conclude()

    async def _conclude(self) -> CampaignState:
        counts = await asyncio.to_thread(self.ledger.counts, self.campaign_id)
        left = counts.pending or counts.sending
        if self._stop is not None and (left or self._stop.state == CampaignState.CANCELLED):
            state, reason = self._stop.state, self._stop.reason
        elif left:
            state, reason = CampaignState.PAUSED, "stopped before every recipient was sent"
        else:
            state, reason = CampaignState.FINISHED, ""
        self.state, self.pause_reason = state, reason
        await asyncio.to_thread(self.ledger.set_state, self.campaign_id, state, reason)
        if self._tally is not None:  # keep this run's errors, with the committed counts
            self._tally.counts = Tally.from_counts(counts).counts
        self._emit(force=True)
        return state

    async def _start_workers(
        self,
        campaign: Campaign,
        renderer: Renderer,
        servers: list[ServerSettings],
        writer: LedgerWriter,
    ) -> WorkerPool | None:
        """Worker processes for an unlimited rate on several cores (workers.py), or None."""
        setting = await writer.call(lambda: self.store.app_settings().worker_processes)
        count = workers.worker_count(
            setting,
            message_rate=campaign.message_rate,
            sliding_window=campaign.sliding_window,
            servers=servers,
            pool_options=self._pool_options,
        )
        if not count:
            return None
        messenger = await writer.call(self._messenger_name, campaign)
        setups = [
            workers.WorkerSetup(
                content=campaign.content,
                columns=self.columns,
                unsubscribe_address=renderer.unsubscribe_address,
                verp_address=self.verp_address,
                messenger=messenger,
                servers=workers.share(servers, count, index),
                pool_options=self._pool_options,
            )
            for index in range(count)
        ]
        pool = workers.WorkerPool(setups, on_trouble=self.pause)
        self.workers = pool
        try:
            await pool.start()
        except BaseException:
            await pool.close()
            raise
        log.info("campaign %s: sending from %d worker processes", self.campaign_id, count)
        return pool

    def _messenger_name(self, campaign: Campaign) -> str:
        """Blocking: the messenger's name as resolved (run off the loop)."""
        from smtpdesk.core.messengers import resolve_messenger

        return resolve_messenger(self.store.servers(), campaign.messenger).name

    def _messenger_servers(self, campaign: Campaign) -> list[ServerSettings]:
        """Blocking: reads the servers (run off the loop)."""
        from smtpdesk.core.messengers import resolve_messenger

        return list(resolve_messenger(self.store.servers(), campaign.messenger).servers)

    def _make_sender(self, campaign: Campaign) -> Sender:
        """Blocking: reads the servers, their passwords and DKIM keys (run off the loop)."""
        from smtpdesk.core.messengers import resolve_messenger
        from smtpdesk.core.smtp.messenger import MessengerSender

        messenger = resolve_messenger(self.store.servers(), campaign.messenger)
        sender: Sender = MessengerSender(messenger, **self._pool_options)
        return sender

    # --- progress ------------------------------------------------------------------

    _last_emit = 0.0
    _sender_stats: Callable[[], list[ServerStats]] | None = None

    def _emit(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is None or self._tally is None:
            return
        if not force and now - self._last_emit < PROGRESS_INTERVAL:
            return
        self._last_emit = now
        servers = tuple(self._sender_stats()) if self._sender_stats else ()
        self.on_progress(
            self._tally.snapshot(
                self.campaign_id,
                self.state,
                servers=servers,
                pause_reason=self.pause_reason,
                waiting=self._waiting,
            )
        )

    def progress(self) -> Progress | None:
        """The latest figures (None before the run has counted anything)."""
        if self._tally is None:
            return None
        servers = tuple(self._sender_stats()) if self._sender_stats else ()
        return self._tally.snapshot(
            self.campaign_id,
            self.state,
            servers=servers,
            pause_reason=self.pause_reason,
            waiting=self._waiting,
        )


class _Job:
    """One run's moving parts: producer, workers, writer, quota and progress tasks."""

    def __init__(
        self,
        runner: CampaignRunner,
        campaign: Campaign,
        renderer: Renderer,
        writer: LedgerWriter,
        sender: Sender | WorkerPool,  # worker processes render and send; decisions stay here
        servers: list[ServerSettings],
        suppressed: set[str],
    ) -> None:
        self.runner = runner
        self.campaign = campaign
        self.renderer = renderer
        self.writer = writer
        self.sender = sender
        self.suppressed = suppressed
        self.crash: BaseException | None = None  # a worker's unexpected error
        self.greylisted: dict[int, Item] = {}  # recipients waiting to be sent again
        self.later: set[asyncio.Task[None]] = set()  # their timers
        assert runner._tally is not None
        self.tally: Tally = runner._tally
        # A claim goes into the queue at once; the producer claims again when this few
        # are left (one wake-up a claim, not one a message, as a bounded queue would cost).
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self.low_water = campaign.concurrency * 2
        self.hungry = asyncio.Event()
        # never above the rate in any 1 s, also by the replies (not needed when unlimited)
        self.rate = MessageRate(campaign.message_rate, replies=campaign.message_rate < MAX_RATE)
        # unlimited and no sliding window: no limiter to ask or tell for each message
        self.paced = campaign.message_rate < MAX_RATE or campaign.sliding_window
        self.replied: set[int] = set()  # sent by _deliver, for the limiter's latencies
        self.window = (
            SlidingWindow(campaign.sliding_window_rate, campaign.sliding_window_duration)
            if campaign.sliding_window
            else None
        )
        self.gate = ServerGate(servers)
        self.counter = QuotaCounter(runner.store.engine)
        self.claim_size = max(campaign.concurrency, min(MAX_CLAIM, int(campaign.message_rate / 4)))
        self.from_address = campaign.content.from_address
        self.blanks = review.blank_fields(runner.columns)  # empty cells render empty
        runner._sender_stats = sender.stats
        if isinstance(sender, WorkerPool):
            sender.on_rendered = self._mark_rendered

    @property
    def stopping(self) -> bool:
        return self.runner._stop is not None

    async def run(self) -> None:
        helpers = [
            asyncio.create_task(self.writer.run(), name="ledger-writer"),
            asyncio.create_task(self._progress(), name="progress"),
            asyncio.create_task(self._quotas(), name="quotas"),
        ]
        for helper in helpers:
            helper.add_done_callback(self._helper_done)
        workers = [asyncio.create_task(self._worker()) for _ in range(self.campaign.concurrency)]
        producer = asyncio.create_task(self._produce(), name="producer")
        for worker in workers:
            worker.add_done_callback(lambda task: self._worker_done(task, producer))
        try:
            try:
                await producer
            except asyncio.CancelledError:
                if self.crash is None:
                    raise
            except Exception as exc:  # claiming failed: let the messages in flight finish
                self._stop_on_error(producer.get_name(), exc)
            if self.crash is not None:
                raise self.crash  # the finally below stops the rest; run() records why
            for _ in workers:
                await self.queue.put(None)
            await asyncio.gather(*workers)
            while self.later:  # greylisted messages, sent again after the delay
                await asyncio.gather(*self.later)
        finally:
            for task in (*helpers, producer, *workers, *self.later):
                task.cancel()
            await asyncio.gather(*helpers, producer, *workers, *self.later, return_exceptions=True)
            self._release_queued()

    def _worker_done(self, task: asyncio.Task[None], producer: asyncio.Task[None]) -> None:
        """A worker died of a bug: stop feeding the queue nobody empties any more."""
        if not task.cancelled() and task.exception() is not None and self.crash is None:
            self.crash = task.exception()
            producer.cancel()

    def _helper_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._stop_on_error(task.get_name(), task.exception())

    def _stop_on_error(self, part: str, exc: BaseException | None) -> None:
        """Pause rather than go on sending with outcomes that cannot be saved."""
        detail = failure_text(exc, self.runner.store.folder)  # "the disk is full", not SQL
        log.error("campaign %s: %s failed", self.campaign.id, part, exc_info=exc)
        self.runner.pause(f"stopped because {_PARTS.get(part, part)} failed: {detail}")

    async def _produce(self) -> None:
        """Claim in id order; at the end once more from the start, for recipients made
        pending again while the run went on (retry-failed), until nothing is left."""
        after, again = 0, False
        while not self.stopping:
            rows = await self.writer.claim(after, self.claim_size)
            if not rows:
                if after == 0:
                    break
                after, again = 0, True
                continue
            if again:  # retried meanwhile: recount, the tally still has them failed
                counts = await self.writer.call(self.runner.ledger.counts, self.campaign.id)
                self.tally.counts = Tally.from_counts(counts).counts
            else:
                self.tally.move(RecipientState.PENDING, RecipientState.SENDING, len(rows))
            after = rows[-1][0]
            for item in rows:
                self._offer(item)
            await self._until_hungry()

    async def _until_hungry(self) -> None:
        """Wait until the workers have taken all but ``low_water`` of the queue."""
        while self.queue.qsize() > self.low_water and not self.stopping:
            self.hungry.clear()
            await self.hungry.wait()

    def _offer(self, item: Item) -> None:
        if self.stopping:
            self._release(item)
        elif item[1].lower() in self.suppressed:
            self._record(
                item,
                Outcome(
                    item[0],
                    RecipientState.SKIPPED,
                    cause="suppressed",
                    error="The address is on the suppression list.",
                ),
            )
        else:
            self.queue.put_nowait(item)

    async def _worker(self) -> None:
        queue = self.queue
        while (item := await queue.get()) is not None:
            if queue.qsize() <= self.low_water:
                self.hungry.set()
            if self.stopping:
                self._release(item)
                continue
            await self._paced(item)

    async def _paced(self, item: Item, greylisted: int = 0, earlier: int = 0) -> None:
        """Deliver within the campaign's rate; the limiter learns when it is done."""
        if not self.paced:
            if self.stopping:
                self._release(item)
            else:
                await self._deliver(item, greylisted, earlier)
            return
        started = await self._limit()
        try:
            if self.stopping:
                self._release(item)
            else:
                await self._deliver(item, greylisted, earlier)
        finally:
            self.rate.finish(started, item[0] in self.replied)
            self.replied.discard(item[0])

    async def _limit(self) -> float:
        wait = self.rate.reserve()
        if wait > 0:
            await self._sleep(wait)
        window = self.window
        while not self.stopping:
            blocked = window.wait_time() if window is not None else 0.0
            wait = max(self.rate.wait_time(), blocked)
            if wait <= 0:
                break
            if blocked > 0:
                self.runner._waiting = "the sliding window's limit is reached"
            await self._sleep(wait)
        self.runner._waiting = ""
        # no await since the checks: workers cannot overtake each other
        if window is not None:
            window.record()
        return self.rate.record()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once on pause or cancel."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.runner._wake.wait(), seconds)

    async def _deliver(self, item: Item, greylisted: int = 0, earlier: int = 0) -> None:
        """Render and send one message; ``earlier``: attempts before it was greylisted.

        In this process or in a worker process (workers.py): either way the attempt's
        result or error comes back here and is decided on by the same code.
        """
        recipient_id, email, _ = item
        key = self.runner.token_key
        token = make_token(key, self.campaign.id, recipient_id) if key else ""
        try:
            attempt = await self._prepare(item, token)
        except (TemplateError, KnownError) as exc:
            self._render_failed(item, exc)
            return
        try:
            result, message_id = await self._send(attempt)
        except SendError as exc:
            diagnosis = exc.diagnosis
            attempts = earlier + exc.attempts
            if diagnosis.cause == "greylisted" and greylisted + 1 < GREYLIST_TRIES:
                self._send_later(item, greylisted + 1, attempts)
                return
            self._fail(item, diagnosis, attempts=attempts, server=exc.server_uuid)
            return
        except RenderFailure as exc:  # a worker process's render
            self._render_failed(item, exc)
            return
        refused = result.refused.get(email)
        if refused:
            self._fail(
                item,
                Diagnosis("recipient_refused", f"The server refused {email}.", raw=refused),
                attempts=earlier + result.attempts,
                server=result.server_uuid,
            )
            return
        self._record(
            item,
            Outcome(
                recipient_id,
                RecipientState.SENT,
                attempts=earlier + result.attempts,
                server_uuid=result.server_uuid,
                sent_at=time.time(),
                reply=result.reply,
                message_id=message_id,
                token=token or None,
            ),
        )

    async def _prepare(self, item: Item, token: str) -> Callable[[], Awaitable[Attempt]]:
        """One attempt to send ``item``: rendered here once, or rendered by a worker each time."""
        sender = self.sender
        if isinstance(sender, WorkerPool):
            return lambda: sender.attempt(item, token)
        _, email, fields = item
        # in a thread, under time and size limits: signals and Pause still work
        message = await self.renderer.render_async(
            review.template_fields(email, fields, self.blanks), token
        )
        self.rendered = True
        # with VERP, bounces name their recipient
        verp = return_path(self.runner.verp_address, token)
        payload, envelope_from = envelope(message, self.from_address, verp)
        message_id = message_id_of(message)

        async def attempt() -> Attempt:
            result = await sender.send(
                payload, sender=envelope_from, recipients=[email], eligible=self.gate.try_take
            )
            return result, message_id

        return attempt

    def _mark_rendered(self) -> None:
        self.rendered = True

    async def _send(self, attempt: Callable[[], Awaitable[Attempt]]) -> Attempt:
        """Make the attempt within the servers' limits, waiting while every server is at one."""
        rate_limited = 0
        while True:
            try:
                return await attempt()
            except SendError as exc:
                cause = exc.diagnosis.cause
                if exc.diagnosis.unconfirmed:
                    raise  # it may have arrived: never sent again without asking
                if cause == "rate_limited":
                    rate_limited += 1
                    if rate_limited >= RATE_LIMIT_TRIES:
                        raise
                elif cause not in _NOT_SENT:
                    raise  # the server refused this message: its outcome
                await self._wait_for_server(exc.diagnosis)
            if self.stopping:
                raise SendError(
                    Diagnosis(
                        "stopped",
                        "The campaign stopped before this message could be sent.",
                        temporary=True,
                    )
                )

    async def _wait_for_server(self, diagnosis: Diagnosis) -> None:
        """Wait for a server to take messages again; pause if none will without help."""
        if diagnosis.cause == "worker_lost":  # the pool starts another or pauses the run
            await self._sleep(0.01)
            return
        stats = self.sender.stats()
        if not stats or not any(s.healthy for s in stats):
            down = [s.last_error for s in stats if s.last_error is not None]
            if len(down) < len(stats) or any(d.cause not in SERVER_CAUSES for d in down):
                # some server asked to slow down (421, a rate limit): its back-off ends
                soonest = min((s.backoff for s in stats), default=NO_SERVER_WAIT)
                self.runner._waiting = f"a server asked to slow down; next try in {soonest:.0f} s"
                await self._sleep(max(soonest, 0.002))
                self.runner._waiting = ""
                return
            self._block(down or [diagnosis])
            return
        exhausted = self.gate.exhausted()
        if exhausted and len(exhausted) == len(self.gate.servers):
            self.runner._waiting = "every server has reached its hourly or daily limit"
        await self._sleep(max(self.gate.next_due(), 0.002) if not exhausted else NO_SERVER_WAIT)
        self.runner._waiting = ""

    def _block(self, diagnoses: list[Diagnosis]) -> None:
        """Every server is failing for a reason of its own (connection, TLS, login): pause."""
        if self.runner.blocked is None:
            self.runner.blocked = diagnoses[0]
        messages = dict.fromkeys(d.message for d in diagnoses)  # each once, in order
        self.runner.pause(f"no server can send: {' '.join(messages)}")

    def _send_later(self, item: Item, greylisted: int, attempts: int) -> None:
        """Send a greylisted message again after the delay greylisting servers expect."""
        self.greylisted[item[0]] = item
        task = asyncio.create_task(self._greylist_wait(item, greylisted, attempts))
        self.later.add(task)
        task.add_done_callback(self.later.discard)

    async def _greylist_wait(self, item: Item, greylisted: int, attempts: int) -> None:
        self.runner._waiting = "greylisted messages wait to be sent again"
        await self._sleep(self.runner.greylist_delay)
        self.greylisted.pop(item[0], None)
        if not self.greylisted:
            self.runner._waiting = ""
        if self.stopping:
            self._release(item)
            return
        await self._paced(item, greylisted, attempts)

    rendered = False  # some message of this run was rendered
    render_failures = 0

    def _render_failed(self, item: Item, exc: KnownError) -> None:
        """Fail the recipient ("template_error" or "unsafe_header"); pause if none renders."""
        cause = getattr(exc, "cause", "template_error")
        hints = (exc.hint,) if exc.hint else ()
        self._fail(item, Diagnosis(cause, exc.message, hints), attempts=0)
        if cause != "template_error" or self.rendered:
            return
        self.render_failures += 1
        if self.render_failures >= SYSTEMATIC_FAILURES:
            self.runner.pause(
                f"the template fails for the first {self.render_failures} recipients: {exc.message}"
            )

    def _fail(self, item: Item, diagnosis: Diagnosis, *, attempts: int, server: str = "") -> None:
        if diagnosis.cause == "stopped":
            self._release(item)
            return
        self.tally.fail(diagnosis, item[1])
        self._record(
            item,
            Outcome(
                item[0],
                RecipientState.UNKNOWN if diagnosis.unconfirmed else RecipientState.FAILED,
                attempts=attempts,
                error=_error_text(diagnosis),
                cause=diagnosis.cause,
                temporary=diagnosis.temporary,
                server_uuid=server,
            ),
        )
        limit = self.campaign.max_send_errors
        if limit and self.tally.failures >= limit:
            self.runner.pause(
                f"{self.tally.failures} messages failed (max_send_errors is "
                f"{limit}); the last: {diagnosis.message}"
            )

    def _record(self, item: Item, outcome: Outcome) -> None:
        if outcome.state is RecipientState.SENT and self.paced:
            self.replied.add(item[0])
        self.tally.move(RecipientState.SENDING, outcome.state)
        self.writer.record(outcome)

    def _release(self, item: Item) -> None:
        self._record(item, Outcome(item[0], RecipientState.PENDING))

    def _release_queued(self) -> None:
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not None:
                self._release(item)
        for item in self.greylisted.values():  # stopped while they waited
            self._release(item)
        self.greylisted.clear()

    async def _progress(self) -> None:
        while True:
            self.runner._emit()
            await asyncio.sleep(PROGRESS_INTERVAL)

    async def _quotas(self) -> None:
        """Keep each limited server's hourly/daily lease topped up, in the writer's thread."""
        if any(self.gate.has_quota(s) for s in self.gate.servers.values()):
            await self.writer.call(self.counter.purge)  # counts older than a day
        while True:
            for server in self.gate.needs_lease():
                old = self.gate.detach(server.uuid)
                lease = await self.writer.call(self.counter.renew, server, old)
                self.gate.install(server.uuid, lease)
            self.gate.low.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gate.low.wait(), 1.0)

    async def close(self) -> None:
        for server_uuid, lease in self.gate.detach_all():
            await self.writer.call(self.counter.give_back, server_uuid, lease)


def _error_text(diagnosis: Diagnosis) -> str:
    return f"{diagnosis.message} ({diagnosis.raw})" if diagnosis.raw else diagnosis.message


@contextlib.contextmanager
def pause_on_signals(runner: CampaignRunner) -> Iterator[None]:
    """SIGINT and SIGTERM pause the run cleanly: messages in flight finish and are recorded."""
    loop = asyncio.get_running_loop()
    added: list[tuple[signal.Signals, Any]] = []
    restore: list[tuple[signal.Signals, Any]] = []

    def pause(*_: object) -> None:
        loop.call_soon_threadsafe(runner.pause, SIGNAL_PAUSE)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        try:
            loop.add_signal_handler(signum, runner.pause, SIGNAL_PAUSE)
            added.append((signum, previous))
        except (NotImplementedError, RuntimeError, ValueError):
            # Windows' loops have none: a plain handler hands the pause to the loop.
            with contextlib.suppress(ValueError):  # not the main thread: no signals at all
                restore.append((signum, signal.signal(signum, pause)))
    try:
        yield
    finally:
        for signum, previous in added:
            loop.remove_signal_handler(signum)
            if previous is not None:
                signal.signal(signum, previous)  # remove_signal_handler leaves the default
        for signum, previous in restore:
            signal.signal(signum, previous)
