"""The bar at the top of the main window that lists campaigns left paused or interrupted.

Shown at start when the ledger holds campaigns nobody is sending that stopped before
the end (paused by a quit, a pause, an error, or interrupted by a crash), each with
Resume and Open; it goes away as they are resumed or when dismissed.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from smtpdesk.core.campaign.actions import INTERRUPTED, CampaignStatus, Sender
from smtpdesk.core.campaign.ledger import CampaignState
from smtpdesk.ui.widgets import StatusLine, tone

SHOWN = 3  # more than this are summed up in one line


def describe(status: CampaignStatus) -> str:
    """``Campaign 'News' was paused when smtpdesk was closed: 12 of 40 done.``"""
    reason = status.campaign.pause_reason
    if status.state == INTERRUPTED:
        why = "was interrupted (the app sending it stopped)"
    elif reason.startswith("paused "):  # "paused by the user", "paused when smtpdesk was closed"
        why = f"was {reason}"
    else:
        why = f"is paused ({reason})" if reason else "is paused"
    counts = status.counts
    return f"Campaign '{status.campaign.name}' {why}: {counts.done:,} of {counts.total:,} done."


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
        self.labels: dict[int, StatusLine] = {}
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
        self.labels = {}
        for index, status in enumerate(self.statuses[:SHOWN]):
            self.rows.addWidget(self._row(status, first=index == 0))
        if len(self.statuses) > SHOWN:
            more = QPushButton(f"… and {len(self.statuses) - SHOWN} more in Campaigns")
            more.setFlat(True)
            more.clicked.connect(self.show_all)
            self.rows.addWidget(more)
        self.setVisible(bool(self.statuses))

    def _row(self, status: CampaignStatus, *, first: bool) -> QWidget:
        label = StatusLine()  # one line at any width: elided, the whole in its tooltip
        label.show_text(describe(status))
        self.labels[status.id] = label
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
