"""The bar at the top of the main window that lists campaigns left paused or interrupted.

Shown at start when the ledger holds campaigns nobody is sending that stopped before
the end (paused by a quit, a pause, an error, or interrupted by a crash), each with
Resume and Open; it goes away as they are resumed or when dismissed.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from smtpdesk.core.campaign.actions import INTERRUPTED, CampaignStatus, Sender
from smtpdesk.core.campaign.ledger import CampaignState
from smtpdesk.ui.widgets import tone

SHOWN = 3  # more than this are summed up in one line


class ResumeBar(QFrame):
    resume = Signal(int)
    open_campaign = Signal(int)
    show_all = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resume_bar")
        self.setAccessibleName("Campaigns to resume")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(f"#resume_bar {{ border: 1px solid {tone('warning')}; }}")
        self.statuses: list[CampaignStatus] = []
        self.rows = QVBoxLayout(self)
        self.rows.setContentsMargins(8, 4, 8, 4)
        self.resume_buttons: dict[int, QPushButton] = {}
        self.hide()

    def show_statuses(self, statuses: list[CampaignStatus]) -> None:
        self.statuses = list(statuses)
        self._rebuild()

    def update_status(self, status: CampaignStatus) -> None:
        """Drop a campaign once it is no longer waiting to be resumed."""
        waiting = status.state in (CampaignState.PAUSED, INTERRUPTED) and (
            status.sender == Sender.NONE
        )
        if not waiting:
            self.drop(status.id)

    def drop(self, campaign_id: int) -> None:
        kept = [s for s in self.statuses if s.id != campaign_id]
        if len(kept) != len(self.statuses):
            self.statuses = kept
            self._rebuild()

    def _rebuild(self) -> None:
        while self.rows.count():
            item = self.rows.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        self.resume_buttons = {}
        for index, status in enumerate(self.statuses[:SHOWN]):
            self.rows.addWidget(self._row(status, first=index == 0))
        if len(self.statuses) > SHOWN:
            more = QPushButton(f"… and {len(self.statuses) - SHOWN} more in Campaigns")
            more.setFlat(True)
            more.clicked.connect(self.show_all)
            self.rows.addWidget(more)
        self.setVisible(bool(self.statuses))

    def _row(self, status: CampaignStatus, *, first: bool) -> QWidget:
        counts = status.counts
        why = (
            "was interrupted (the app sending it stopped)"
            if status.state == INTERRUPTED
            else f"is paused ({status.campaign.pause_reason or 'paused'})"
        )
        label = QLabel(
            f"Campaign <b>{html.escape(status.campaign.name)}</b> {html.escape(why)}: "
            f"{counts.done:,} of {counts.total:,} done."
        )
        label.setWordWrap(True)
        resume = QPushButton("Resume")
        resume.setAccessibleName(f"Resume {status.campaign.name}")
        resume.clicked.connect(lambda _c=False, i=status.id: self._resume(i))
        self.resume_buttons[status.id] = resume
        open_button = QPushButton("Open")
        open_button.clicked.connect(lambda _c=False, i=status.id: self.open_campaign.emit(i))
        widget = QWidget()
        row = QHBoxLayout(widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label, 1)
        row.addWidget(resume)
        row.addWidget(open_button)
        if first:
            dismiss = QPushButton("Dismiss")
            dismiss.setToolTip("Hide this bar; the campaigns stay in the Campaigns tab")
            dismiss.clicked.connect(lambda: self.show_statuses([]))
            row.addWidget(dismiss)
        return widget

    def _resume(self, campaign_id: int) -> None:
        self.drop(campaign_id)
        self.resume.emit(campaign_id)
