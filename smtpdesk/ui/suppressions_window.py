"""The suppression list in the GUI: view and search it, add and remove addresses, import a file.

The same list the CLI's ``campaign suppress`` edits (``core.campaign.suppressions``);
it spans every campaign: a suppressed recipient is skipped, never sent to.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.campaign.suppressions import Suppression, SuppressionList, split_addresses
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.close_keys import add_close_keys
from smtpdesk.ui.local_time import format_when
from smtpdesk.ui.prompts import Prompts

COLUMNS = ("Address", "Reason", "Added")
REASONS = ("manual", "unsubscribed", "bounced", "complaint")
FILE_FILTER = "Address lists (*.csv *.tsv *.txt);;All files (*)"
Index = QModelIndex | QPersistentModelIndex


class SuppressionModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.everything: list[Suppression] = []
        self.shown: list[Suppression] = []
        self.needle = ""

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's default)
        return 0 if parent.isValid() else len(self.shown)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        item = self.shown[index.row()]
        return (item.email, item.reason, format_when(item.added_at))[index.column()]

    def set_rows(self, rows: list[Suppression]) -> None:
        self.everything = rows
        self.set_filter(self.needle)

    def set_filter(self, needle: str) -> None:
        self.beginResetModel()
        self.needle = needle.strip().lower()
        self.shown = [s for s in self.everything if self.needle in s.email]
        self.endResetModel()


class SuppressionsWindow(QWidget):
    def __init__(self, bridge: Bridge, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.bridge, self.prompts = bridge, prompts
        self.suppressions = SuppressionList(bridge.store)
        self.setWindowTitle("smtpdesk — Suppression list")
        self.model = SuppressionModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Suppressed addresses")
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search addresses")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.model.set_filter)
        self.count_label = QLabel()
        self.model.modelReset.connect(self._counted)
        self.addresses = QLineEdit()
        self.addresses.setPlaceholderText("one or more addresses, separated by commas or spaces")
        self.addresses.returnPressed.connect(self.add)
        self.reason = QComboBox()
        self.reason.setAccessibleName("Reason")
        self.reason.addItems(REASONS)
        self.add_button = QPushButton("&Add")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("&Remove selected")
        self.remove_button.clicked.connect(self.remove_selected)
        self.import_button = QPushButton("&Import file…")
        self.import_button.clicked.connect(self.import_file)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self._build()
        add_close_keys(self, self._close)
        self.resize(720, 520)
        self._update_buttons()
        self.reload()

    def _build(self) -> None:
        top = QHBoxLayout()
        search_label = QLabel("&Search:")
        search_label.setBuddy(self.search)
        top.addWidget(search_label)
        top.addWidget(self.search, 1)
        top.addWidget(self.count_label)
        adding = QHBoxLayout()
        address_label = QLabel("A&ddresses:")
        address_label.setBuddy(self.addresses)
        adding.addWidget(address_label)
        adding.addWidget(self.addresses, 1)
        adding.addWidget(self.reason)
        adding.addWidget(self.add_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.remove_button)
        bottom.addWidget(self.import_button)
        bottom.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self._close)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(adding)
        layout.addWidget(self.message)
        layout.addLayout(bottom)

    def _counted(self) -> None:
        shown, total = len(self.model.shown), len(self.model.everything)
        everything = counted(total, "address", "addresses")
        text = everything if shown == total else f"{shown:,} of {total:,}"
        self.count_label.setText(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def reload(self) -> None:
        self.bridge.start(self.bridge.read(self.suppressions.suppressed), done=self.model.set_rows)

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.bridge.notifier.info(text)

    def _changed(self, text: str) -> None:
        self._say(text)
        self.reload()

    def add(self) -> None:
        valid, invalid = split_addresses(self.addresses.text())
        if invalid:
            self.message.setText(f"Not an address: {', '.join(invalid[:5])}. Nothing was added.")
            return
        if not valid:
            self.message.setText("Type one or more addresses to suppress.")
            return
        reason = self.reason.currentText()

        def added(count: int) -> None:
            self.addresses.clear()
            self._say(f"{counted(count, 'address', 'addresses')} suppressed ({reason}).")
            self.reload()

        self.bridge.start(self.bridge.write(self.suppressions.suppress, valid, reason), done=added)

    def remove_selected(self) -> None:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        emails = [self.model.shown[r].email for r in rows]
        if not emails:
            return

        def answered(yes: bool) -> None:
            if yes:
                self.bridge.start(
                    self.bridge.write(self.suppressions.unsuppress, emails),
                    done=lambda n: self._changed(f"{counted(n, 'address', 'addresses')} removed."),
                )

        listed = ", ".join(emails[:3]) + (f" and {len(emails) - 3} more" if len(emails) > 3 else "")
        self.prompts.confirm(
            self,
            "Remove from the suppression list",
            f"Remove {listed}? Campaigns will send to them again.",
            answered,
            action="Remove",
        )

    def import_file(self) -> None:
        reason = self.reason.currentText()

        def chosen(path: str) -> None:
            if path:
                self.bridge.start(
                    self.bridge.write(self.suppressions.import_suppressions, path, reason),
                    done=lambda n: self._changed(
                        f"{counted(n, 'address', 'addresses')} suppressed from {path}."
                    ),
                )

        self.prompts.open_file(self, "Import addresses to suppress", FILE_FILTER, chosen)

    def _close(self) -> None:
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.message.clear()
        super().closeEvent(event)
