"""Runs one campaign's engine for the GUI and turns its progress into Qt signals.

The engine runs on the engine thread's own asyncio loop (see ``engine_thread``);
its ``on_progress`` calls, at most ten a second, cross to the GUI as a queued signal.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

from PySide6.QtCore import QObject, Signal

from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.campaign.progress import Progress, RunTotals
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.engine_thread import ENGINE


class CampaignControl(QObject):
    progress = Signal(object)  # Progress
    state_changed = Signal(str)  # a CampaignState value
    running_changed = Signal(bool)

    def __init__(self, bridge: Bridge, campaign_id: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.campaign_id = campaign_id
        self.runner = CampaignRunner(bridge.store, campaign_id, on_progress=self._engine_progress)
        # Each run has a new messenger and error tally; the figures go on across runs.
        # Written only between runs, read by the engine thread during one.
        self.totals = RunTotals()
        self.task: asyncio.Task[CampaignState] | None = None
        self.state = ""
        self.last: Progress | None = None
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

    def run(self) -> None:
        """Start, or resume after a pause."""
        if self.running:
            return
        self._set_state(CampaignState.RUNNING)
        future = ENGINE.submit(self.runner.run())
        self.task = self.bridge.start(_wait(future), done=self._ended, failed=self._failed)
        self.running_changed.emit(True)

    def pause(self) -> None:
        if self.running:
            ENGINE.call(self.runner.pause)

    def cancel(self) -> None:
        if self.running:
            ENGINE.call(self.runner.cancel)
        else:
            ledger = Ledger(self.bridge.store)
            self.bridge.start(
                self.bridge.write(ledger.set_state, self.campaign_id, CampaignState.CANCELLED),
                done=lambda _r: self._set_state(CampaignState.CANCELLED),
            )

    def retry_failed(self) -> None:
        """Make every failed recipient pending again, then send to them."""
        ledger = Ledger(self.bridge.store)

        def retried(count: int) -> None:
            self.bridge.notifier.info(f"{count:,} failed recipient(s) will be tried again.")
            if count and not self.running:
                self.run()

        self.bridge.start(
            self.bridge.write(ledger.retry_failed, self.campaign_id, temporary_only=False),
            done=retried,
        )

    def latest(self) -> Progress | None:
        return self.last

    def _ended(self, state: CampaignState) -> None:
        self.running_changed.emit(False)
        final = self.runner.progress()  # the engine has stopped: safe to read from here
        if final is not None:
            self.progress.emit(self._continued(final))
            self.totals.end_run(final)
        self._set_state(state)

    def _failed(self, exc: BaseException) -> None:
        self.running_changed.emit(False)
        self._set_state(CampaignState.PAUSED)
        self.bridge.report(exc)

    def _set_state(self, state: CampaignState | str) -> None:
        self.state = str(state)
        self.state_changed.emit(self.state)


async def _wait(future: Future[CampaignState]) -> CampaignState:
    return await asyncio.wrap_future(future)
