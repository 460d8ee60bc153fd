"""The per-recipient report: a lazy table model over the ledger, filter by state, CSV export.

Rows are fetched a page at a time on a worker thread and kept in a small cache,
so a campaign of a million recipients scrolls without loading them all. After the
count, the model reads where each page starts (``Ledger.page_starts``, once per
filter); from then on any page, however deep, is one index seek by recipient id.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.campaign.ledger import Ledger, Recipient, RecipientState
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.close_keys import add_close_keys
from smtpdesk.ui.local_time import format_when
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.window_state import clamp_to_screen

PAGE = 200
CACHED_PAGES = 50
OFFSET_PAGES = 20  # pages this near the top are read by OFFSET while the page index loads
COLUMNS = ("Line", "Email", "State", "Attempts", "Error", "Server reply", "Sent at")
ERROR, REPLY = 4, 5
# Short values: as wide as their longest possible text (no scan of a lazy model).
# 6: a time, in the locale's way
LONGEST = {0: "99999999", 2: "sent, bounced (hard)", 3: "Attempts", 6: ""}
WIDEST_ERROR = 420  # an Error column grows to its content up to this, then elides
NARROWEST_REPLY = 200  # on a narrow window the table scrolls sideways rather than hide the reply
Index = QModelIndex | QPersistentModelIndex


def _cell(r: Recipient, column: int) -> str:
    if column == 0:
        return str(r.line)
    if column == 1:
        return r.email
    if column == 2:  # and what the feedback mailbox learnt after the send (issue 12)
        kind = f" ({r.feedback_kind})" if r.feedback_kind else ""
        return f"{r.state}, {r.feedback}{kind}" if r.feedback else str(r.state)
    if column == 3:
        return str(r.attempts)
    if column == 4:
        return r.error
    if column == 5:
        return r.reply
    return format_when(r.sent_at, seconds=True) if r.sent_at else ""


class RecipientModel(QAbstractTableModel):
    """Recipients of one campaign (optionally one state), fetched by page on demand."""

    def __init__(self, bridge: Bridge, campaign_id: int, parent: Any = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.ledger = Ledger(bridge.store)
        self.campaign_id = campaign_id
        self.state: str | None = None
        self.count = 0
        self.pages: OrderedDict[int, list[Recipient]] = OrderedDict()
        self.pending: set[int] = set()
        self.starts: list[int] | None = None  # the first recipient id of each page
        self.waiting: set[int] = set()  # deep pages asked for before the index came
        self._generation = 0

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's default)
        return 0 if parent.isValid() else self.count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        page_number, offset = divmod(index.row(), PAGE)
        page = self.pages.get(page_number)
        if page is None:
            self._fetch(page_number)
            return "…" if index.column() == 1 else ""
        self.pages.move_to_end(page_number)
        if offset >= len(page):
            return ""
        return _cell(page[offset], index.column())

    def set_state(self, state: str | None) -> None:
        """Show only recipients in ``state`` (None: all) and recount."""
        self.state = state
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        generation = self._generation
        self.bridge.start(
            self.bridge.read(self.ledger.recipient_count, self.campaign_id, self.state),
            done=lambda n: self._counted(n, generation),
        )

    def _counted(self, count: int, generation: int) -> None:
        if generation != self._generation:
            return
        self.beginResetModel()
        self.count = count
        self.pages.clear()
        self.pending.clear()
        self.starts = None
        self.waiting.clear()
        self.endResetModel()
        self.bridge.start(
            self.bridge.read(self.ledger.page_starts, self.campaign_id, self.state, PAGE),
            done=lambda starts: self._indexed(starts, generation),
        )

    def _indexed(self, starts: list[int], generation: int) -> None:
        if generation != self._generation:
            return
        self.starts = starts
        for page_number in sorted(self.waiting):
            self.pending.discard(page_number)
            self._fetch(page_number)
        self.waiting.clear()

    def _fetch(self, page_number: int) -> None:
        if page_number in self.pending:
            return
        self.pending.add(page_number)
        generation = self._generation
        if self.starts is None and page_number >= OFFSET_PAGES:
            self.waiting.add(page_number)  # an OFFSET read this deep is slower than the index
            return
        if self.starts is not None and page_number < len(self.starts):
            read = self.bridge.read(
                self.ledger.recipients_from,
                self.campaign_id,
                self.starts[page_number],
                self.state,
                PAGE,
            )
        else:  # near the top, until the page index is read (a few tens of ms)
            read = self.bridge.read(
                self.ledger.recipients, self.campaign_id, self.state, page_number * PAGE, PAGE
            )
        self.bridge.start(read, done=lambda rows: self._fetched(page_number, rows, generation))

    def _fetched(self, page_number: int, rows: list[Recipient], generation: int) -> None:
        if generation != self._generation:
            return
        self.pending.discard(page_number)
        self.pages[page_number] = rows
        while len(self.pages) > CACHED_PAGES:
            self.pages.popitem(last=False)
        first = page_number * PAGE
        last = min(first + PAGE, self.count) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))


class RecipientReport(QWidget):
    def __init__(
        self,
        bridge: Bridge,
        campaign_id: int,
        prompts: Prompts | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.bridge = bridge
        self.prompts = prompts or Prompts()
        self.campaign_id = campaign_id
        self.setWindowTitle(f"smtpdesk — Recipients of campaign {campaign_id}")
        self.model = RecipientModel(bridge, campaign_id, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Recipients")
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        metrics = self.table.fontMetrics()
        for column, longest in LONGEST.items():
            text = longest or format_when(1_798_758_000, seconds=True)  # 2026-12-31 23:00
            wide = max(metrics.horizontalAdvance(text), metrics.horizontalAdvance(COLUMNS[column]))
            self.table.setColumnWidth(column, wide + 24)
        self.table.setColumnWidth(1, 240)
        self.table.viewport().installEventFilter(self)  # the reply takes what is left
        self._error_fitted = False
        self._fit_error_column()
        self.model.modelReset.connect(self._refit)
        self.model.dataChanged.connect(lambda *_a: self._fit_error_column())
        self.filter = QComboBox()
        self.filter.setAccessibleName("Filter by state")
        self.filter.addItem("All states", None)
        for state in RecipientState:
            self.filter.addItem(str(state), str(state))
        self.filter.currentIndexChanged.connect(
            lambda _i: self.model.set_state(self.filter.currentData())
        )
        self.count_label = QLabel()
        self.model.modelReset.connect(
            lambda: self.count_label.setText(f"{self.model.count:,} recipients")
        )
        export = QPushButton("&Export CSV…")
        export.clicked.connect(self.export)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self._close)
        add_close_keys(self, self._close)
        top = QHBoxLayout()
        label = QLabel("&Show:")
        label.setBuddy(self.filter)
        top.addWidget(label)
        top.addWidget(self.filter)
        top.addWidget(self.count_label)
        top.addStretch(1)
        top.addWidget(export)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(close)
        self.resize(1000, 600)
        clamp_to_screen(self)  # a small or scaled screen: Close and Export stay in view
        self.model.reload()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        clamp_to_screen(self)  # now that the frame and the position are known

    def _refit(self) -> None:
        self._error_fitted = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.table.viewport():
            self._fit_reply_column()
        return super().eventFilter(watched, event)

    def _fit_reply_column(self) -> None:
        """The server's reply gets the room the other columns leave, and never less than
        NARROWEST_REPLY (a Stretch column would be squeezed to "…" at 800 pixels)."""
        others = sum(self.table.columnWidth(c) for c in range(len(COLUMNS)) if c != REPLY)
        room = self.table.viewport().width() - others
        self.table.setColumnWidth(REPLY, max(NARROWEST_REPLY, room))

    def _fit_error_column(self) -> None:
        """Once per filter, with the first rows: as wide as their errors, at most WIDEST_ERROR.

        Narrow when nothing failed, so the server's reply and the time are not cut.
        """
        if self._error_fitted:
            return
        self._error_fitted = bool(self.model.pages)
        header = self.table.horizontalHeader()
        wanted = max(header.sectionSizeHint(ERROR), self.table.sizeHintForColumn(ERROR))
        self.table.setColumnWidth(ERROR, min(wanted, WIDEST_ERROR))
        self._fit_reply_column()

    def _close(self) -> None:
        self.close()  # (a slot that returns nothing: Qt's close() returns a bool)

    def export(self) -> None:
        self.prompts.save_file(self, "Export recipients", "CSV files (*.csv)", self._export_to)

    def _export_to(self, path: str) -> None:
        if not path:
            return
        self.bridge.start(
            self.bridge.read(self.model.ledger.export_csv, self.campaign_id, path),
            done=lambda n: self.bridge.notifier.info(f"Exported {n:,} recipients to {path}."),
        )
