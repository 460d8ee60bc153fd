"""The Test dialog: core's server test on the form's current values, step by step, live.

It never saves anything; the password is the one typed in the form, else the stored one.
"""

from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core import secrets
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.smtp.servertest import TestReport, TestStep, test_server
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.widgets import tone


async def run_test(
    settings: ServerSettings, typed: str | None, to: str | None, on_step: object
) -> TestReport:
    password = (
        typed if typed is not None else await asyncio.to_thread(secrets.get_password, settings.uuid)
    )
    return await test_server(settings, password, to=to or None, on_step=on_step)  # type: ignore[arg-type]


class TestPanel(QDialog):
    finished_test = Signal(str, object)  # server uuid, ok (bool)

    __test__ = False  # not a pytest class, despite the name

    def __init__(
        self,
        bridge: Bridge,
        settings: ServerSettings,
        password: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge, self.settings, self.password = bridge, settings, password
        self.task: asyncio.Task[TestReport] | None = None
        self.report: TestReport | None = None
        self._started = 0.0
        self.setWindowTitle(f"smtpdesk — Test {settings.label}")
        self.setObjectName("test_panel")
        self._build()
        self.resize(680, 520)

    def _build(self) -> None:
        s = self.settings
        title = QLabel(
            f"<b>{s.label}</b> — {s.host}:{s.port}, {s.tls_type}, auth {s.auth_protocol}"
        )
        title.setWordWrap(True)
        self.to = QLineEdit()
        self.to.setAccessibleName("Send a test email to")
        self.to.setPlaceholderText("optional: an address of yours")
        self.run_button = QPushButton("&Run again")
        self.run_button.clicked.connect(self.start)
        to_row = QHBoxLayout()
        to_row.addWidget(self.to, 1)
        to_row.addWidget(self.run_button)
        form = QFormLayout()
        to_label = QLabel("Send a test email &to")
        to_label.setBuddy(self.to)
        form.addRow(to_label, to_row)
        self.steps = QTreeWidget()
        self.steps.setHeaderLabels(["Step", "Time", "Detail"])
        self.steps.setRootIsDecorated(False)
        self.steps.setAccessibleName("Test steps")
        header = self.steps.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("Diagnosis")
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.raw_button = QPushButton("Show the server's &reply")
        self.raw_button.setCheckable(True)
        self.raw_button.setVisible(False)
        self.raw = QPlainTextEdit()
        self.raw.setReadOnly(True)
        self.raw.setAccessibleName("Raw server reply")
        self.raw.setVisible(False)
        self.raw.setMaximumHeight(90)
        self.raw_button.toggled.connect(self._toggle_raw)
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.clicked.connect(self.cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.raw_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(self.steps, 1)
        layout.addWidget(self.verdict)
        layout.addWidget(self.raw)
        layout.addLayout(buttons)

    def _toggle_raw(self, shown: bool) -> None:
        self.raw.setVisible(shown)
        self.raw_button.setText("Hide the server's &reply" if shown else "Show the server's &reply")

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        if self.running:
            return
        self.steps.clear()
        self.report = None
        self.raw_button.setVisible(False)
        self.raw_button.setChecked(False)
        self.verdict.setStyleSheet("")
        self.verdict.setText("Testing… (nothing is saved)")
        self.run_button.setEnabled(False)
        self.cancel_button.setText("&Cancel")
        self._started = time.perf_counter()
        task: asyncio.Task[TestReport] | None = None

        def on_step(step: TestStep) -> None:
            if task is self.task:  # a cancelled run may still be winding down
                self.add_step(step)

        task = self.task = self.bridge.start(
            run_test(self.settings, self.password, self.to.text().strip(), on_step),
            done=self.show_report,
            failed=self._failed,
        )

    def add_step(self, step: TestStep) -> None:
        mark = "✔" if step.ok else "✖"
        item = QTreeWidgetItem(
            [f"{mark} {step.name}", f"{step.seconds * 1000:.0f} ms", step.detail]
        )
        item.setForeground(0, _brush("ok" if step.ok else "error"))
        item.setToolTip(2, step.detail)
        self.steps.addTopLevelItem(item)

    def show_report(self, report: TestReport) -> None:
        self.report = report
        self._idle()
        if report.ok:
            caps = ", ".join(f"{k} {v}" for k, v in report.capabilities.items())
            self.verdict.setStyleSheet(f"color: {tone('ok')};")
            self.verdict.setText(f"✔ The server accepted these settings.\nCapabilities: {caps}")
        elif report.diagnosis is not None:
            d = report.diagnosis
            hints = "".join(f"<li>{_escape(h)}</li>" for h in d.hints)
            kind = "A later retry may succeed." if d.temporary else ""
            self.verdict.setText(
                f'<span style="color:{tone("error")}"><b>✖ {_escape(d.message)}</b></span> '
                f"{kind}<ul>{hints}</ul>"
            )
            self.raw.setPlainText(d.raw or "(no reply from the server)")
            self.raw_button.setVisible(True)
        self.finished_test.emit(self.settings.uuid, report.ok)

    def _failed(self, exc: BaseException) -> None:
        self._idle()
        self.verdict.setText(f"✖ {exc}")
        self.bridge.report(exc)

    def _idle(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setText("&Close")

    def cancel_or_close(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.close()

    def cancel(self) -> None:
        """Stop the test now; its connection closes as the task winds down."""
        if self.task is not None:
            self.task.cancel()
        # Forgotten at once, so Run again and Close work before the old task has ended.
        self.task = None
        seconds = time.perf_counter() - self._started
        self.add_step(TestStep("Cancelled", False, seconds, "stopped before the test ended"))
        self._idle()
        self.verdict.setStyleSheet("")
        self.verdict.setText("Cancelled. Nothing was saved.")

    def reject(self) -> None:
        if self.running and self.task is not None:
            self.task.cancel()
        super().reject()


def _brush(kind: str):  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(tone(kind)))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
