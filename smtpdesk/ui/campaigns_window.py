"""The campaigns list: every campaign with its state and progress; opens panels and reports."""

from __future__ import annotations

import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.campaign.ledger import Campaign, Counts, Ledger
from smtpdesk.core.store import Store
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.prompts import Prompts

COLUMNS = ("#", "Name", "State", "Messenger", "Sent", "Failed", "Total", "Created")


def load_campaigns(store: Store) -> list[tuple[Campaign, Counts]]:
    ledger = Ledger(store)
    return [(c, ledger.counts(c.id)) for c in reversed(ledger.list_campaigns())]


class CampaignsView(QWidget):
    open_campaign = Signal(int)
    new_campaign = Signal()

    def __init__(self, bridge: Bridge, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.prompts = bridge, prompts
        self.ids: list[int] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setAccessibleName("Campaigns")
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _i: self._open())
        new = QPushButton("&New campaign…")
        new.clicked.connect(self.new_campaign)
        self.open_button = QPushButton("&Open live panel")
        self.open_button.clicked.connect(self._open)
        self.report_button = QPushButton("Recipient &report…")
        self.report_button.clicked.connect(self._report)
        buttons = QHBoxLayout()
        buttons.addWidget(new)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.report_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(2000)
        self._timer.timeout.connect(self.refresh)
        self._busy = False

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
        self.bridge.start(
            self.bridge.read(load_campaigns, self.bridge.store),
            done=self._show,
            failed=self._failed,
        )

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self.bridge.report(exc)

    def _show(self, rows: list[tuple[Campaign, Counts]]) -> None:
        self._busy = False
        selected = self.selected_id()
        self.ids = [c.id for c, _n in rows]
        self.table.setRowCount(len(rows))
        for row, (c, n) in enumerate(rows):
            created = datetime.datetime.fromtimestamp(c.created_at).strftime("%Y-%m-%d %H:%M")
            cells = (
                str(c.id),
                c.name,
                str(c.state),
                c.messenger,
                f"{n.sent:,}",
                f"{n.failed:,}",
                f"{n.total:,}",
                created,
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
        if selected in self.ids:
            self.table.selectRow(self.ids.index(selected))

    def selected_id(self) -> int | None:
        row = self.table.currentRow()
        return self.ids[row] if 0 <= row < len(self.ids) else None

    def _open(self) -> None:
        campaign_id = self.selected_id()
        if campaign_id is not None:
            self.open_campaign.emit(campaign_id)

    def _report(self) -> None:
        from smtpdesk.ui.recipient_report import RecipientReport

        campaign_id = self.selected_id()
        if campaign_id is None:
            return
        report = RecipientReport(self.bridge, campaign_id, self.prompts, parent=self)
        report.show()
        self._report_window = report
