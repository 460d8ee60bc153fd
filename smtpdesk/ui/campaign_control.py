"""Runs one campaign's engine for the GUI and turns its progress into Qt signals.

The engine runs on the engine thread's own asyncio loop (see ``engine_thread``);
its ``on_progress`` calls, at most ten a second, cross to the GUI as a queued signal.
What the controls offer follows the campaign's *stored* state (read from the ledger
through ``core.campaign.actions``), so a campaign paused by an earlier run of the app,
or interrupted by a crash, can be resumed here; only while this process sends it does
the run's own state take over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future

from PySide6.QtCore import QObject, Signal

from smtpdesk.core.campaign import actions
from smtpdesk.core.campaign.actions import Action, CampaignStatus
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.campaign.progress import (
    ErrorGroup,
    Progress,
    RunTotals,
    stored_error_groups,
    stored_server_stats,
)
from smtpdesk.core.errors import KnownError
from smtpdesk.core.smtp.types import Diagnosis, ServerStats
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.engine_thread import ENGINE

USER_PAUSE = "paused by the user"
QUIT_PAUSE = "paused when smtpdesk was closed"


class CampaignControl(QObject):
    progress = Signal(object)  # Progress
    state_changed = Signal(str)  # a CampaignState value, or "interrupted"
    running_changed = Signal(bool)
    status_changed = Signal(object)  # CampaignStatus, as stored
    ended = Signal(int, str, str)  # campaign id, state, reason: a run of this process stopped
    stored_errors = Signal(object)  # tuple[ErrorGroup, ...] of the runs before this process
    stored_servers = Signal(object)  # tuple[ServerStats, ...]: their sent and failed

    def __init__(self, bridge: Bridge, campaign_id: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.campaign_id = campaign_id
        self.ledger = Ledger(bridge.store)
        self.runner = CampaignRunner(bridge.store, campaign_id, on_progress=self._engine_progress)
        # Each run has a new messenger and error tally; the figures go on across runs.
        # Written only between runs, read by the engine thread during one.
        self.totals = RunTotals()
        self.task: asyncio.Task[CampaignState] | None = None
        self.state = ""
        self.status: CampaignStatus | None = None
        self.problem = ""  # why the last start failed, shown beside the state
        self.last: Progress | None = None
        # Why the last run here paused when no server could send (the servers' own words).
        self.blocked: Diagnosis | None = None
        self.progress.connect(self._remember)

    def _engine_progress(self, progress: Progress) -> None:
        # On the engine thread: Qt queues the signal to this object's (the GUI's) thread.
        self.progress.emit(self._continued(progress))

    def _continued(self, progress: Progress) -> Progress:
        return self.totals.combined(progress)

    def _remember(self, progress: Progress) -> None:
        self.last = progress

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def allowed(self) -> frozenset[Action]:
        """What the controls may offer now: from the stored state, or the run's while it runs."""
        if self.running:
            return actions.allowed_actions(str(self.state), sender=actions.Sender.HERE)
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

        def stored(status: CampaignStatus) -> None:
            self.status = status
            if not self.running:
                self._set_state(status.state)
            self.status_changed.emit(status)
            if then is not None:
                then(status)

        self.bridge.start(
            self.bridge.read(actions.campaign_status, self.ledger, self.campaign_id), done=stored
        )

    def run(self) -> None:
        """Start, or resume after a pause or an interruption."""
        if self.running:
            return
        self.problem = ""
        self.blocked = None
        self._set_state(CampaignState.RUNNING)
        future = ENGINE.submit(self.runner.run())
        self.task = self.bridge.start(_wait(future), done=self._ended, failed=self._failed)
        self.running_changed.emit(True)

    def pause(self, reason: str = USER_PAUSE) -> None:
        if self.running:
            ENGINE.call(self.runner.pause, reason)

    def cancel(self) -> None:
        """Cancel (the caller has asked the user): through the runner if it runs here."""
        if self.running:
            ENGINE.call(self.runner.cancel)
            return
        self.bridge.start(
            self.bridge.write(actions.cancel_campaign, self.ledger, self.campaign_id),
            done=lambda _r: self.refresh(),
        )

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

    def _ended(self, state: CampaignState) -> None:
        self.running_changed.emit(False)
        final = self.runner.progress()  # the engine has stopped: safe to read from here
        self.blocked = self.runner.blocked
        if final is not None:
            self.progress.emit(self._continued(final))
            self.totals.end_run(final)
        self._set_state(state)
        self.ended.emit(self.campaign_id, str(state), self.runner.pause_reason)
        self.refresh()

    def _failed(self, exc: BaseException) -> None:
        # The run could not start (a template error, no server...) or stopped on our bug:
        # the stored state says which, the reason stays beside it.
        self.running_changed.emit(False)
        self.problem = exc.message if isinstance(exc, KnownError) else f"{exc!r}"
        self.bridge.report(exc)
        self.ended.emit(self.campaign_id, "", self.problem)
        self.refresh()

    def _set_state(self, state: CampaignState | str) -> None:
        self.state = str(state)
        self.state_changed.emit(self.state)


async def _wait(future: Future[CampaignState]) -> CampaignState:
    return await asyncio.wrap_future(future)
