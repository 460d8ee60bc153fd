"""The sandbox server's inbox: received messages, rendered HTML and raw source."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.smtp.sandbox import InboxMessage, list_inbox
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.close_keys import add_close_keys
from smtpdesk.ui.local_time import format_when
from smtpdesk.ui.sandbox_service import SandboxService
from smtpdesk.ui.window_state import restore_window, save_window

STATE_KEY = "inbox"


def read_message(path: Path) -> tuple[str, str]:
    """The HTML to render (the text part, escaped, when there is no HTML) and the raw source."""
    raw = path.read_bytes()
    message = message_from_bytes(raw, policy=default_policy)
    body = message.get_body(("html", "plain"))
    content = body.get_content() if body is not None else ""
    if body is not None and body.get_content_type() == "text/plain":
        content = "<pre>" + content.replace("&", "&amp;").replace("<", "&lt;") + "</pre>"
    return str(content), raw.decode("utf-8", errors="replace")


def _when(message: InboxMessage) -> str:
    """The message's date in the locale's short format (the raw header if unreadable)."""
    return message.date if message.sent_at is None else format_when(message.sent_at)


class InboxWindow(QWidget):
    def __init__(
        self,
        bridge: Bridge,
        sandbox: SandboxService,
        parent: QWidget | None = None,
        ui_state: QSettings | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.bridge = bridge
        self.ui_state = ui_state
        self.sandbox = sandbox
        self.messages: list[InboxMessage] = []
        self.setWindowTitle("smtpdesk — Sandbox inbox")
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Date", "From", "To", "Subject"])
        self.list.setRootIsDecorated(False)
        self.list.setAccessibleName("Received messages")
        self.list.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.list.currentItemChanged.connect(self._chosen)
        self.rendered = QTextBrowser()
        self.rendered.setOpenLinks(False)
        self.rendered.setAccessibleName("Rendered message")
        self.source = QPlainTextEdit()
        self.source.setReadOnly(True)
        self.source.setAccessibleName("Raw source")
        tabs = QTabWidget()
        tabs.addTab(self.rendered, "&Rendered")
        tabs.addTab(self.source, "Ra&w source")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("inbox_splitter")
        splitter.addWidget(self.list)
        splitter.addWidget(tabs)
        splitter.setSizes([220, 380])
        self.status = QLabel(
            "The sandbox captures what is sent to it; nothing leaves this computer."
        )
        self.status.setWordWrap(True)
        self.server_button = QPushButton()
        self.server_button.clicked.connect(self.toggle_server)
        sandbox.changed.connect(self._sandbox_changed)
        refresh = QPushButton("Re&fresh")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.server_button)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        layout.addWidget(close)
        add_close_keys(self, self._close)
        self.resize(900, 640)
        if ui_state is not None:
            restore_window(self, ui_state, STATE_KEY)
        if sandbox.running:
            self._sandbox_changed(sandbox.status)
        else:
            self.server_button.setText("Start the sandbox &server")
        self.refresh()

    def refresh(self) -> None:
        self.bridge.start(self.bridge.read(list_inbox, self.bridge.store.folder), done=self._listed)

    def _listed(self, messages: list[InboxMessage]) -> None:
        self.messages = messages
        self.list.clear()
        for m in messages:
            item = QTreeWidgetItem([_when(m), m.sender, m.to, m.subject])
            item.setToolTip(0, m.date)  # the header as sent
            self.list.addTopLevelItem(item)
        for column in range(3):
            self.list.resizeColumnToContents(column)
        first = self.list.topLevelItem(0)
        if first is not None:
            self.list.setCurrentItem(first)

    def _chosen(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if current is None:
            return
        path = self.messages[self.list.indexOfTopLevelItem(current)].path
        self.bridge.start(self.bridge.read(read_message, path), done=self._show)

    def _show(self, parts: tuple[str, str]) -> None:
        html, raw = parts
        self.rendered.setHtml(html)
        self.source.setPlainText(raw)

    def toggle_server(self) -> None:
        self.sandbox.toggle()

    def _sandbox_changed(self, status: str) -> None:
        self.status.setText(status)
        self.server_button.setText(
            "Stop the sandbox &server" if self.sandbox.running else "Start the sandbox &server"
        )

    def _close(self) -> None:
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.ui_state is not None:
            save_window(self, self.ui_state, STATE_KEY)
        super().closeEvent(event)
