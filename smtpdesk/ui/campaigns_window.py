"""The campaigns list: every campaign with its stored state; opens panels, reports and actions.

What each button and menu entry offers follows the selected campaign's stored state
(``core.campaign.actions``), whether or not this process sent it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QStackedLayout,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.campaign import actions
from smtpdesk.core.campaign.actions import Action, CampaignStatus
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.local_time import format_when
from smtpdesk.ui.prompts import Prompts

COLUMNS = ("#", "Name", "State", "Messenger", "Sent", "Failed", "Total", "Created", "Feedback")
EMPTY_HINT = (
    "<p><b>No campaigns yet.</b></p>"
    "<p>Click <b>New campaign…</b> to choose a recipients file, write the message and "
    "send it through your servers. Every campaign you send is listed here.</p>"
)


def state_text(status: CampaignStatus) -> str:
    send_at = status.campaign.send_at
    if status.state == CampaignState.SCHEDULED and send_at:
        return f"scheduled for {format_when(send_at)}"
    return status.state


def feedback_text(counts: dict[str, int] | None, sent: int) -> str:
    """``2 bounced (4.0%), 1 unsub. (2.0%)``: the mailbox's counts, as rates of the sent."""
    if not counts or not any(counts.values()):
        return ""
    names = (("bounced", "bounced"), ("complained", "complaint(s)"), ("unsubscribed", "unsub."))
    return ", ".join(
        f"{counts[key]:,} {label} ({counts[key] / max(sent, 1):.1%})"
        for key, label in names
        if counts.get(key)
    )


class CampaignsView(QWidget):
    open_campaign = Signal(int)
    new_campaign = Signal()
    edit_campaign = Signal(int)
    deleted = Signal(int)

    def __init__(self, bridge: Bridge, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.prompts = bridge, prompts
        self.ledger = Ledger(bridge.store)
        self.rows: list[CampaignStatus] = []
        self.feedback: dict[int, dict[str, int]] = {}
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setAccessibleName("Campaigns")
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _i: self._open())
        self.table.itemSelectionChanged.connect(self._update_actions)
        self.empty = QLabel(EMPTY_HINT)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setAccessibleName("No campaigns")
        self.stack = QStackedLayout()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        self._make_actions()
        new = QPushButton("&New campaign…")
        new.clicked.connect(self.new_campaign)
        buttons = QHBoxLayout()
        buttons.addWidget(new)
        buttons.addStretch(1)
        for action in (
            self.open_action,
            self.report_action,
            self.edit_action,
            self.duplicate_action,
            self.delete_action,
        ):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(self.stack, 1)
        layout.addLayout(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(2000)
        self._timer.timeout.connect(self.refresh)
        self._busy = False
        self._report_window: QWidget | None = None
        self._update_actions()

    def _make_actions(self) -> None:
        def action(text: str, slot: Any) -> QAction:
            made = QAction(text, self)
            # The buttons below the list show the icon text, which Qt derives from the text
            # without its "&" and "…": set it, or their Alt keys and the "opens a window" dots
            # are lost (the menus show the text itself).
            made.setIconText(text)
            made.triggered.connect(slot)
            return made

        self.open_action = action("&Open live panel", self._open)
        self.report_action = action("Recipient &report…", self._report)
        self.edit_action = action("Ed&it…", self._edit)  # Alt+E: the Servers tab
        self.duplicate_action = action("D&uplicate…", self.duplicate)
        self.delete_action = action("&Delete…", self.delete)

    def showEvent(self, event: Any) -> None:
        self.refresh()
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event: Any) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        if self._busy:
            return
        self._busy = True
        book = FeedbackBook(self.bridge.store)  # what the mailbox learnt (issue 12)

        def read() -> list[CampaignStatus]:
            self.feedback = book.all_campaign_counts()
            return actions.list_statuses(self.ledger)

        self.bridge.start(self.bridge.read(read), done=self._show, failed=self._failed)

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self.bridge.report(exc)

    def _show(self, rows: list[CampaignStatus]) -> None:
        self._busy = False
        selected = self.selected_id()
        self.rows = rows
        self.stack.setCurrentWidget(self.table if rows else self.empty)
        self.table.setRowCount(len(rows))
        for row, status in enumerate(rows):
            c, n = status.campaign, status.counts
            cells = (
                str(c.id),
                c.name,
                state_text(status),
                c.messenger,
                f"{n.sent:,}",
                f"{n.failed:,}",
                f"{n.total:,}",
                format_when(c.created_at),
                feedback_text(self.feedback.get(c.id), n.sent),
            )
            for column, text in enumerate(cells):
                item = self.table.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, column, item)
                item.setText(text)
                if column in (0, 4, 5, 6):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
        ids = [s.id for s in rows]
        if selected in ids:
            self.table.selectRow(ids.index(selected))
        self._update_actions()

    def select(self, campaign_id: int) -> None:
        ids = [s.id for s in self.rows]
        if campaign_id in ids:
            self.table.selectRow(ids.index(campaign_id))

    def selected(self) -> CampaignStatus | None:
        rows = self.table.selectionModel().selectedRows()
        row = rows[0].row() if rows else -1
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def selected_id(self) -> int | None:
        status = self.selected()
        return status.id if status is not None else None

    def _update_actions(self) -> None:
        status = self.selected()
        allowed = status.allowed() if status is not None else frozenset()
        self.open_action.setEnabled(status is not None)
        self.report_action.setEnabled(status is not None)
        self.edit_action.setEnabled(Action.EDIT in allowed)
        self.edit_action.setToolTip(
            "Reopen the wizard on this campaign"
            if Action.EDIT in allowed
            else "Only a draft, a scheduled campaign or one paused before it sent anything can "
            "be edited; Duplicate copies any"
        )
        self.duplicate_action.setEnabled(Action.DUPLICATE in allowed)
        self.delete_action.setEnabled(Action.DELETE in allowed)
        self.delete_action.setToolTip(
            "Delete the campaign and its recipient report"
            if Action.DELETE in allowed
            else "Only a draft, finished or cancelled campaign can be deleted"
        )

    def _context_menu(self, position: QPoint) -> None:
        if self.selected() is None:
            return
        menu = QMenu(self)
        for action in (self.open_action, self.report_action):
            menu.addAction(action)
        menu.addSeparator()
        for action in (self.edit_action, self.duplicate_action, self.delete_action):
            menu.addAction(action)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def _open(self) -> None:
        campaign_id = self.selected_id()
        if campaign_id is not None:
            self.open_campaign.emit(campaign_id)

    def _edit(self) -> None:
        campaign_id = self.selected_id()
        if campaign_id is not None:
            self.edit_campaign.emit(campaign_id)

    def _report(self) -> None:
        from smtpdesk.ui.recipient_report import RecipientReport

        campaign_id = self.selected_id()
        if campaign_id is None:
            return
        report = RecipientReport(self.bridge, campaign_id, self.prompts, parent=self)
        report.show()
        self._report_window = report

    # actions

    def duplicate(self) -> None:
        """Copy the selected campaign as a draft, to the same or a new recipients file."""
        status = self.selected()
        if status is None:
            return

        def chosen(answer: str) -> None:
            if answer == "same":
                self._duplicate(status.id, None)
            elif answer == "file":
                self.prompts.open_file(
                    self,
                    "Recipients of the copy",
                    "Recipient files (*.csv *.tsv *.txt);;All files (*)",
                    lambda path: self._duplicate(status.id, path) if path else None,
                )

        self.prompts.choose(
            self,
            "Duplicate campaign",
            f"Copy {status.campaign.name!r} (its content and delivery settings) as a new "
            "draft, to send to the same recipients or to those of another file?",
            [("same", "Same recipients"), ("file", "Other file…"), ("cancel", "Cancel")],
            chosen,
        )

    def _duplicate(self, campaign_id: int, path: str | None) -> None:
        def done(copy: actions.Duplicate) -> None:
            self.bridge.notifier.info(
                f"Campaign {copy.campaign_id} is a draft copy with "
                f"{counted(copy.recipients, 'recipient')}."
            )

            def listed(rows: list[CampaignStatus]) -> None:
                self._show(rows)
                self.select(copy.campaign_id)

            self.bridge.start(self.bridge.read(actions.list_statuses, self.ledger), done=listed)

        self.bridge.start(
            self.bridge.write(
                actions.duplicate_campaign, self.ledger, campaign_id, recipients_file=path
            ),
            done=done,
        )

    def delete(self) -> None:
        status = self.selected()
        if status is None or Action.DELETE not in status.allowed():
            return
        total = status.counts.total

        def deleted(_result: None) -> None:
            self.deleted.emit(status.id)
            self.refresh()

        def answered(yes: bool) -> None:
            if yes:
                self.bridge.start(
                    self.bridge.write(actions.delete_campaign, self.ledger, status.id),
                    done=deleted,
                )

        self.prompts.confirm(
            self,
            "Delete campaign",
            f"Delete {status.campaign.name!r} ({status.state}) and the report of its "
            f"{counted(total, 'recipient')}? This cannot be undone.",
            answered,
            action="Delete",
        )
