"""Runs one campaign through its own sending process and turns its progress into Qt signals.

A campaign sends in a separate process (``smtpdesk campaign serve``, started by
``core.service.start_sender``), the same engine as the CLI, so the GUI thread shares no
interpreter lock with sending and the campaign can go on after the window closes. This
object follows that process over its local channel (``core.service.follow``): each
progress (at most ten a second) becomes the ``progress`` signal, Pause and Cancel go back
through the channel. A campaign another process is sending, whose channel this app can
reach (another window, one kept sending after a quit), is followed the same way
(:meth:`CampaignControl.attach`).

What the controls offer follows the campaign's *stored* state (read from the ledger
through ``core.campaign.actions``), so a campaign paused by an earlier run of the app,
or interrupted by a crash, can be resumed here; only while this object follows a run
does the run's own state take over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from smtpdesk.core.campaign import actions
from smtpdesk.core.campaign.actions import Action, CampaignStatus, Sender
from smtpdesk.core.campaign.ledger import USER_PAUSE, CampaignState, Ledger
from smtpdesk.core.campaign.progress import (
    ErrorGroup,
    Progress,
    RunTotals,
    stored_error_groups,
    stored_server_stats,
)
from smtpdesk.core.errors import KnownError
from smtpdesk.core.service import follower as service
from smtpdesk.core.service.follower import EndedEvent, FailedEvent, Follower, ProgressEvent
from smtpdesk.core.smtp.types import Diagnosis, ServerStats
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge

LOSS_SECONDS = 3.0  # how long a sending process whose channel closed may take to be gone
QUIT_PAUSE = "paused when smtpdesk was closed"


class CampaignControl(QObject):
    progress = Signal(object)  # Progress
    state_changed = Signal(str)  # a CampaignState value, or "interrupted"
    running_changed = Signal(bool)
    status_changed = Signal(object)  # CampaignStatus, as stored
    ended = Signal(int, str, str)  # campaign id, state, reason: a run followed here stopped
    stored_errors = Signal(object)  # tuple[ErrorGroup, ...] of the runs before this process
    stored_servers = Signal(object)  # tuple[ServerStats, ...]: their sent and failed

    def __init__(self, bridge: Bridge, campaign_id: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.campaign_id = campaign_id
        self.ledger = Ledger(bridge.store)
        self.folder = bridge.store.folder  # where the sending processes' channel files are
        # Each run has a new messenger and error tally; the figures go on across runs.
        self.totals = RunTotals()
        # Starting the sending process, then following it: done when the run has ended
        # (or the process is gone).
        self.task: asyncio.Task[EndedEvent | None] | None = None
        self.follower: Follower | None = None
        self.attached = False  # the run followed now was started by another process
        self.state = ""
        self.status: CampaignStatus | None = None
        self.problem = ""  # why the last start failed, shown beside the state
        self.last: Progress | None = None
        self.run_last: Progress | None = None  # the followed run's own latest figures
        # Why the last run paused when no server could send (the servers' own words).
        self.blocked: Diagnosis | None = None
        # Pause or cancel asked while the sending process was starting: sent once it answers.
        self._asked: tuple[str, str] | None = None
        self.progress.connect(self._remember)

    def _remember(self, progress: Progress) -> None:
        self.last = progress

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def allowed(self) -> frozenset[Action]:
        """What the controls may offer now: from the stored state, or the run's while it runs."""
        if self.running:
            return actions.allowed_actions(str(self.state), sender=Sender.HERE)
        if self.status is None:
            return frozenset()
        if self.state and self.state != self.status.state:  # a run just ended: not re-read yet
            counts = self.last.counts if self.last else self.status.counts
            retryable = counts.failed + counts.unknown
            untouched = not (counts.sent or counts.sending or retryable)
            return actions.allowed_actions(self.state, failed=retryable, untouched=untouched)
        return self.status.allowed()

    def refresh(self, then: Callable[[CampaignStatus], None] | None = None) -> None:
        """Read the stored state and counts again."""
        self._refresh(actions.campaign_status, then)

    def _refresh(
        self,
        read: Callable[[Ledger, int], CampaignStatus],
        then: Callable[[CampaignStatus], None] | None = None,
    ) -> None:

        def stored(status: CampaignStatus) -> None:
            self.status = status
            if not self.running:
                self._set_state(status.state)
            self.status_changed.emit(status)
            if then is not None:
                then(status)

        self.bridge.start(self.bridge.read(read, self.ledger, self.campaign_id), done=stored)

    # --- a run -------------------------------------------------------------------

    def run(self) -> None:
        """Start, or resume after a pause or an interruption, in a new sending process."""
        if self.running:
            return
        self._begin(attached=False)
        self.task = self.bridge.start(self._send(), done=self._finished, failed=self._failed)
        self.running_changed.emit(True)

    def attach(self) -> None:
        """Follow the run another process is sending (its channel is reachable from here)."""
        if self.running:
            return
        self._begin(attached=True)
        # That run counts its servers and errors from its own start; the stored ones
        # already include what it has done so far, so they are not added again.
        self.totals = RunTotals()
        self.task = self.bridge.start(self._follow(), done=self._finished, failed=self._failed)
        self.running_changed.emit(True)

    def _begin(self, *, attached: bool) -> None:
        self.problem = ""
        self.blocked = None
        self.run_last = None
        self.attached = attached
        self._asked = None
        self._set_state(CampaignState.RUNNING)

    async def _send(self) -> EndedEvent | None:
        # Spawning and waiting for the channel block (up to seconds): on a worker thread.
        await self.bridge.read(service.start_sender, self.campaign_id, folder=self.folder)
        return await self._follow()

    async def _follow(self) -> EndedEvent | None:
        """Each event of the sending process, until its run ends or its channel closes."""
        follower = await service.follow(self.campaign_id, folder=self.folder)
        if follower is None:  # it ended (or died) before we could connect
            return None
        self.follower = follower
        try:
            if self._asked is not None:
                await self._tell(follower, *self._asked)
            async for event in follower.events():
                if isinstance(event, ProgressEvent):
                    self.run_last = event.progress
                    self.progress.emit(self.totals.combined(event.progress))
                elif isinstance(event, EndedEvent):
                    return event
                elif isinstance(event, FailedEvent):
                    raise KnownError(event.message, event.hint)
            return None  # closed without an end: the sending process died
        finally:
            self.follower = None
            await follower.close()

    async def _tell(self, follower: Follower, op: str, reason: str) -> None:
        if op == "cancel":
            await follower.cancel()
        else:
            await follower.pause(reason)

    def pause(self, reason: str = USER_PAUSE) -> None:
        self._ask("pause", reason)

    def cancel(self) -> None:
        """Cancel (the caller has asked the user): through the sending process if there is one."""
        if self.running or self.reachable:
            self._ask("cancel", "")
            return
        self.bridge.start(
            self.bridge.write(actions.cancel_campaign, self.ledger, self.campaign_id),
            done=lambda _r: self.refresh(),
        )

    def _ask(self, op: str, reason: str) -> None:
        if self.follower is not None:
            self.bridge.start(self._tell(self.follower, op, reason))
        elif self.running:  # the process is starting: told as soon as it answers
            if self._asked is None or op == "cancel":
                self._asked = (op, reason)
        elif self.reachable:  # sent by another process we do not follow (yet)
            self.bridge.start(
                service.request(self.campaign_id, op, reason, folder=self.folder),
                done=lambda _ok: self.refresh(),
            )

    def can_attach(self, status: CampaignStatus) -> bool:
        """Another process sends it and its channel answers: it can be followed from here."""
        return not self.running and status.sender == Sender.ELSEWHERE and status.reachable

    @property
    def reachable(self) -> bool:
        """Another process sends it (as last read) and its channel answers."""
        return self.status is not None and self.status.reachable

    def _finished(self, ended: EndedEvent | None) -> None:
        if ended is None:
            self._lost()
        else:
            self._ended(ended)

    def _ended(self, ended: EndedEvent) -> None:
        self.running_changed.emit(False)
        self.blocked = ended.blocked
        if self.run_last is not None:
            self.totals.end_run(self.run_last)
        self._set_state(ended.state)
        self.ended.emit(self.campaign_id, ended.state, ended.reason)
        self.refresh()

    def _lost(self) -> None:
        """The channel closed without an end (the process was killed, or the run ended
        before we connected): the ledger says what became of the campaign."""
        if self.run_last is not None:
            self.totals.end_run(self.run_last)

        def stored(status: CampaignStatus) -> None:
            self.running_changed.emit(False)
            reason = status.campaign.pause_reason
            self.ended.emit(self.campaign_id, status.state, reason)

        self._refresh(self._status_after_loss, then=stored)

    def _status_after_loss(self, ledger: Ledger, campaign_id: int) -> CampaignStatus:
        """Blocking. The channel can close a moment before its killed process is gone, and
        a process this one started stays a zombie until reaped: either way its runner lease
        would still look alive (not ``interrupted``). Asking for its channel reaps it; wait
        (briefly) until there is none."""
        deadline = time.monotonic() + LOSS_SECONDS
        while service.sender_channel(campaign_id, folder=self.folder) is not None:
            if time.monotonic() > deadline:
                break  # still there: the status says it is sent elsewhere, reachable
            time.sleep(0.05)
        return actions.campaign_status(ledger, campaign_id)

    def _failed(self, exc: BaseException) -> None:
        # The run could not start (a template error, no server...) or stopped on our bug:
        # the stored state says which, the reason stays beside it.
        self.running_changed.emit(False)
        self.problem = exc.message if isinstance(exc, KnownError) else f"{exc!r}"
        self.bridge.report(exc)
        self.ended.emit(self.campaign_id, "", self.problem)
        self.refresh()

    # --- stored figures ------------------------------------------------------------

    def load_errors(self) -> None:
        """Before the first run here: the error groups of earlier runs, from the ledger."""

        def read() -> tuple[tuple[ErrorGroup, ...], tuple[ServerStats, ...]]:
            ledger, campaign = self.ledger, self.campaign_id
            return stored_error_groups(ledger, campaign), stored_server_stats(ledger, campaign)

        def loaded(found: tuple[tuple[ErrorGroup, ...], tuple[ServerStats, ...]]) -> None:
            if self.last is None and not self.running:
                groups, servers = found
                self.totals.start_from(groups, servers)
                self.stored_errors.emit(groups)
                self.stored_servers.emit(servers)

        self.bridge.start(self.bridge.read(read), done=loaded)

    def retry_failed(self, include_unknown: bool = False) -> None:
        """Make every failed recipient (and the unknown ones, if asked) pending, then send."""

        def retried(count: int) -> None:
            self.bridge.notifier.info(f"{counted(count, 'recipient')} will be tried again.")
            if count and not self.running:
                self.run()
            else:
                self.refresh()

        self.bridge.start(
            self.bridge.write(
                actions.retry_failed,
                self.ledger,
                self.campaign_id,
                include_unknown=include_unknown,
            ),
            done=retried,
        )

    def latest(self) -> Progress | None:
        return self.last

    def _set_state(self, state: CampaignState | str) -> None:
        self.state = str(state)
        self.state_changed.emit(self.state)
