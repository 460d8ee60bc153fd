"""The Test dialog: core's server test on the form's current values, step by step, live.

It never saves the settings; the password is the one typed in the form, else the stored
one. Its verdict is kept as the server's last test (core.server_health) only when the
tested values are the saved ones. A certificate that no authority vouches for is shown
in full, with Trust this certificate (pin its SHA-256) as the safe way past it.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
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
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.feedback.scan import credentials
from smtpdesk.core.server_health import LastTest, record_test
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.smtp.certificate import CertificateInfo, format_fingerprint
from smtpdesk.core.smtp.servertest import TestReport, TestStep, test_server
from smtpdesk.core.store import Store
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.domain_checklist import checklist_html
from smtpdesk.ui.widgets import tone
from smtpdesk.ui.window_state import clamp_to_screen


async def run_test(
    settings: ServerSettings,
    typed: str | None,
    to: str | None,
    on_step: Callable[[TestStep], None] | None,
    read_back_from: Store | None = None,
) -> TestReport:
    """The server test; with ``read_back_from``, also through its feedback mailbox."""
    password = (
        typed if typed is not None else await asyncio.to_thread(secrets.get_password, settings.uuid)
    )
    mailbox, missing = None, ""
    if read_back_from is not None:
        try:
            found = await asyncio.to_thread(FeedbackBook(read_back_from).mailbox)
            mailbox = (found, await credentials(read_back_from, found))
        except KnownError as exc:
            missing = f"Not read back through the feedback mailbox: {exc}"
    report = await test_server(
        settings, password, to=to or None, on_step=on_step, read_back=mailbox
    )
    if missing:
        report.warnings.append(missing)
    return report


_TRUSTABLE = ("certificate_invalid", "certificate_changed")


def certificate_html(cert: CertificateInfo) -> str:
    """The certificate as the user needs it to decide: who, signed by whom, for what, until."""
    issuer = html.escape(cert.issuer)
    if cert.self_signed:
        issuer = "<b>self-signed</b> (no authority vouches for it)"
    expiry = f"{cert.not_after:%Y-%m-%d} (in {int(cert.days_left())} days)"
    fingerprint = format_fingerprint(cert.sha256)
    warning = cert.expiry_warning()
    if warning:
        expiry = f'<span style="color:{tone("warning")}">⚠ {html.escape(warning)}</span>'
    rows = (
        ("Subject", html.escape(cert.subject)),
        ("Issuer", issuer),
        ("Names", html.escape(", ".join(cert.names) or "none")),
        ("Expires", expiry),
        ("Protocol", html.escape(f"{cert.protocol} {cert.cipher}".strip() or "unknown")),
        ("SHA-256", f"<tt>{fingerprint[:47]}<br>{fingerprint[48:]}</tt>"),  # 16 bytes a line
    )
    cells = "".join(f"<tr><td><b>{k}</b>&nbsp;</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


class TestPanel(QDialog):
    # server uuid and its stored LastTest; only for a test of the saved settings
    finished_test = Signal(str, object)
    trust_requested = Signal(str)  # the SHA-256 to pin on the server in the form

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
        clamp_to_screen(self)

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
        self.read_back = QCheckBox("Read back via the feedback mailbox")
        self.read_back.setToolTip(
            "Also send a message to the feedback mailbox and show how its server judged "
            "SPF, DKIM and DMARC (its Authentication-Results)."
        )
        to_row = QHBoxLayout()
        to_row.addWidget(self.to, 1)
        to_row.addWidget(self.read_back)
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
        self.certificate = QLabel()
        self.certificate.setAccessibleName("Certificate")
        self.certificate.setWordWrap(True)
        self.certificate.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.certificate.setVisible(False)
        self.domain = QLabel()  # the Domain step's checklist (issue 14)
        self.domain.setAccessibleName("Domain check")
        self.domain.setWordWrap(True)
        self.domain.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.domain.setVisible(False)
        self.trust_button = QPushButton("Tr&ust this certificate")
        self.trust_button.setToolTip(
            "Accept this one certificate for this server from now on (its SHA-256 is kept "
            "with the server); any other certificate is refused."
        )
        self.trust_button.setVisible(False)
        self.trust_button.clicked.connect(self.trust)
        self.raw_button = QPushButton("Show the server's re&ply")
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
        buttons.addWidget(self.trust_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(self.steps, 1)
        layout.addWidget(self.verdict)
        layout.addWidget(self.certificate)
        layout.addWidget(self.domain)
        layout.addWidget(self.raw)
        layout.addLayout(buttons)
        QShortcut(QKeySequence.StandardKey.Close, self, self.close)  # Ctrl+W, like Esc

    def _toggle_raw(self, shown: bool) -> None:
        self.raw.setVisible(shown)
        self.raw_button.setText("Hide the server's re&ply" if shown else "Show the server's re&ply")

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
        self.trust_button.setVisible(False)
        self.certificate.setVisible(False)
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
            run_test(
                self.settings,
                self.password,
                self.to.text().strip(),
                on_step,
                self.bridge.store if self.read_back.isChecked() else None,
            ),
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
        warnings = "".join(
            f'<li style="color:{tone("warning")}">⚠ {html.escape(w)}</li>' for w in report.warnings
        )
        if report.ok:
            caps = html.escape(", ".join(f"{k} {v}" for k, v in report.capabilities.items()))
            self.verdict.setText(
                f'<span style="color:{tone("ok")}">✔ The server accepted these settings.</span>'
                f"<br>Capabilities: {caps}" + (f"<ul>{warnings}</ul>" if warnings else "")
            )
        elif report.diagnosis is not None:
            d = report.diagnosis
            hints = "".join(f"<li>{html.escape(h)}</li>" for h in d.hints)
            kind = "A later retry may succeed." if d.temporary else ""
            self.verdict.setText(
                f'<span style="color:{tone("error")}"><b>✖ {html.escape(d.message)}</b></span> '
                f"{kind}<ul>{hints}{warnings}</ul>"
            )
            self.raw.setPlainText(d.raw or "(no reply from the server)")
            self.raw_button.setVisible(True)
        cert = report.certificate
        self.certificate.setVisible(cert is not None)
        self.certificate.setText(certificate_html(cert) if cert is not None else "")
        self.domain.setVisible(report.domain is not None)
        self.domain.setText(checklist_html(report.domain) if report.domain is not None else "")
        trustable = report.diagnosis is not None and report.diagnosis.cause in _TRUSTABLE
        self.trust_button.setVisible(cert is not None and trustable)
        self._record(report)

    def _record(self, report: TestReport) -> None:
        """Keep the verdict as the server's last test, when the saved settings were tested."""
        settings, typed = self.settings, self.password is not None

        def recorded(last: LastTest | None) -> None:
            if last is not None:
                self.finished_test.emit(settings.uuid, last)

        self.bridge.start(
            self.bridge.write(
                record_test,
                self.bridge.store,
                settings,
                report.ok,
                report.summary(),
                typed_password=typed,
            ),
            done=recorded,
        )

    def trust(self) -> None:
        """Pin the shown certificate on the server (through the form) and test again."""
        cert = self.report.certificate if self.report is not None else None
        if cert is None:
            return
        self.trust_requested.emit(cert.sha256)
        self.settings = replace(self.settings, tls_pin_sha256=cert.sha256)
        self.start()

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
