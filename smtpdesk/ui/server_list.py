"""The list of servers: enabled switch, name or "pool: email", host:port, last test's dot.

The dot and its tooltip come from the stored last test (core.server_health), so they
survive a restart; a test of unsaved edits is not stored and leaves the dot alone.
"""

from __future__ import annotations

from PySide6.QtCore import QDateTime, QLocale, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from smtpdesk.core.server_health import LastTest
from smtpdesk.core.settings import POOL_NAME, ServerSettings
from smtpdesk.ui.widgets import status_colour

UUID_ROLE = Qt.ItemDataRole.UserRole
_Mode = QHeaderView.ResizeMode
COLUMN_MODES = (_Mode.ResizeToContents, _Mode.ResizeToContents, _Mode.Stretch)


def dot_icon(colour: QColor, size: int = 12) -> QIcon:
    pixmap = QPixmap(size * 2, size * 2)  # drawn at 2x so it stays crisp at 200% scaling
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(colour)
    painter.setPen(colour.darker(130))
    painter.drawEllipse(2, 2, size - 4, size - 4)
    painter.end()
    return QIcon(pixmap)


def server_title(s: ServerSettings) -> str:
    return s.name or f"pool: {POOL_NAME}"


def status_tip(last: LastTest | None) -> str:
    """ "Last test passed on <date time>", in the user's locale, with why it failed."""
    if last is None:
        return "Not tested yet"
    when = QDateTime.fromSecsSinceEpoch(int(last.tested_at))
    text = QLocale().toString(when, QLocale.FormatType.ShortFormat)
    verdict = "passed" if last.ok else "failed"
    detail = "" if last.ok or not last.summary else f": {last.summary}"
    return f"Last test {verdict} on {text}{detail}"


class ServerList(QTreeWidget):
    """Emits ``chosen`` with a uuid (or "") and ``enabled_toggled`` when a switch is flipped."""

    chosen = Signal(str)
    enabled_toggled = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["On", "Server", "Address"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAccessibleName("Servers")
        self.setIconSize(QSize(12, 12))
        # A long host name is elided in the middle (its port stays in view) rather than
        # widening the list past its pane; the full address is in the tooltip.
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.header()
        header.setStretchLastSection(False)
        for column, mode in enumerate(COLUMN_MODES):
            header.setSectionResizeMode(column, mode)
        self.status: dict[str, LastTest] = {}
        self._filling = False
        self.currentItemChanged.connect(self._current_changed)
        self.itemChanged.connect(self._item_changed)

    def set_servers(self, servers: list[ServerSettings], select: str | None = None) -> None:
        self._filling = True
        self.blockSignals(True)
        try:
            self.clear()
            for s in servers:
                address = f"{s.host or '(no host)'}:{s.port}"
                item = QTreeWidgetItem(["", server_title(s), address])
                item.setToolTip(2, address)
                item.setData(0, UUID_ROLE, s.uuid)
                item.setCheckState(
                    0, Qt.CheckState.Checked if s.enabled else Qt.CheckState.Unchecked
                )
                item.setToolTip(0, "Enabled" if s.enabled else "Disabled")
                self._paint_status(item, self.status.get(s.uuid))
                self.addTopLevelItem(item)
            self.select(select)
        finally:
            self.blockSignals(False)
            self._filling = False

    def _paint_status(self, item: QTreeWidgetItem, last: LastTest | None) -> None:
        item.setIcon(1, dot_icon(status_colour(last.ok if last else None)))
        item.setToolTip(1, status_tip(last))

    def set_status(self, uuid: str, last: LastTest | bool | None) -> None:
        """Show a server's stored last test (a bare bool: a test just now, for screenshots)."""
        if isinstance(last, bool):
            last = LastTest(last, QDateTime.currentSecsSinceEpoch(), "")
        if last is None:
            self.status.pop(uuid, None)
        else:
            self.status[uuid] = last
        item = self._item(uuid)
        if item is not None:
            self._paint_status(item, last)

    def _item(self, uuid: str | None) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item is not None and item.data(0, UUID_ROLE) == uuid:
                return item
        return None

    def select(self, uuid: str | None) -> None:
        """Select ``uuid`` without emitting ``chosen`` (used to undo a refused switch)."""
        blocked = self.blockSignals(True)
        item = self._item(uuid)
        self.setCurrentItem(item) if item is not None else self.clearSelection()
        self.blockSignals(blocked)

    def current_uuid(self) -> str:
        item = self.currentItem()
        return str(item.data(0, UUID_ROLE)) if item is not None else ""

    def _current_changed(self, current: QTreeWidgetItem | None, _prev: object) -> None:
        self.chosen.emit(str(current.data(0, UUID_ROLE)) if current is not None else "")

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0 and not self._filling:
            on = item.checkState(0) == Qt.CheckState.Checked
            self.enabled_toggled.emit(str(item.data(0, UUID_ROLE)), on)
