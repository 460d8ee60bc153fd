"""The Mailbox page: where bounces, complaints and unsubscribe requests arrive (issue 12).

The settings form (validated by ``parse_mailbox`` as the CLI's), Test (connect, TLS,
login, folder, count), Scan now with its progress, the last scan's result, and the
timer that scans every ``scan_interval`` while the app runs. Nothing here touches the
network or SQLite: the core runs in the bridge's tasks and threads.
"""

from __future__ import annotations

import html
import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.durations import format_duration
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.feedback.mailbox import MailboxCheck
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.settings import MailboxReport, MailboxSettings, parse_mailbox
from smtpdesk.core.smtp.certificate import format_fingerprint
from smtpdesk.core.store import Store
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.widgets import FieldRow, caption, scrolling

TEXT_FIELDS = (
    ("host", "&Host", "For example imap.gmail.com."),
    ("port", "P&ort", "993 for IMAP over TLS, 143 STARTTLS; 995 and 110 for POP3."),
    ("username", "&Username", "Usually the mailbox's whole address."),
    ("oauth_server", "OAuth ser&ver", "Log in with this server's OAuth sign-in instead."),
    ("folder", "&Folder", "Where the feedback arrives."),
    ("processed_folder", "Processed fol&der", "Where processed messages are moved."),
    ("unsubscribe_address", "Unsubscribe &address", "Every message's List-Unsubscribe mailto."),
    ("scan_interval", "Scan &interval", "While the app runs, such as 15m."),
    ("tls_pin_sha256", "Certificate pi&n", "Trust only this SHA-256 (Test shows it)."),
)
CHOICES = (
    ("protocol", "P&rotocol", ("imap", "pop3")),
    ("tls_type", "T&LS", ("TLS", "STARTTLS", "none")),
    ("processed", "Processed &mail", ("move", "read", "delete")),
)
COUNTS = ("hard", "soft", "complaints", "unsubscribes", "ignored", "unmatched")


def save_mailbox(store: Store, data: dict[str, Any], password: str) -> MailboxReport:
    """Validate and save (the password in the keyring); nothing is saved on an error."""
    book = FeedbackBook(store)
    report = parse_mailbox(data, base=book.mailbox(), servers=store.servers())
    if report.settings is not None:
        if password:
            scanning.set_password(password)
        book.put_mailbox(report.settings)
    return report


def describe_result(result: dict[str, Any], finished_at: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(finished_at))
    if result.get("error"):
        return f"Last scan {when} failed: {result['error']}"
    counts = ", ".join(f"{result.get(name, 0)} {name}" for name in COUNTS)
    more = " More messages wait for the next scan." if result.get("more") else ""
    read = counted(int(result.get("read", 0)), "message")
    return f"Last scan {when}: {read} read; {counts}.{more}"


class MailboxPage(QWidget):
    scanned = Signal()  # a scan recorded something: campaigns' counts may have changed

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.settings = MailboxSettings()
        self.lines: dict[str, QLineEdit] = {}
        self.combos: dict[str, QComboBox] = {}
        self.rows: dict[str, FieldRow] = {}
        self.scanning = False
        box = QGroupBox("Feedback mailbox: bounces, complaints, unsubscribe requests")
        form = QFormLayout(box)
        self.enabled = QCheckBox("Read this mailbox")
        self.enabled.setAccessibleName("Enabled")
        self.enabled.toggled.connect(self._revalidate)
        form.addRow("&Enabled", self.enabled)
        for key, label, choices in CHOICES:
            combo = QComboBox()
            combo.addItems(list(choices))
            combo.setAccessibleName(label.replace("&", ""))
            combo.currentTextChanged.connect(self._revalidate)
            self.combos[key] = combo
            self._add(form, key, label, combo, "")
        for key, label, help_text in TEXT_FIELDS:
            line = QLineEdit()
            line.setAccessibleName(label.replace("&", ""))
            line.textEdited.connect(self._revalidate)
            self.lines[key] = line
            self._add(form, key, label, line, help_text)
        self.skip_verify = QCheckBox("Skip TLS certificate verification (testing only)")
        self.skip_verify.toggled.connect(self._revalidate)
        form.addRow("", self.skip_verify)
        self.verp = QCheckBox("VERP: return path local+token@domain (the server must allow it)")
        self.verp.setAccessibleName("VERP")
        self.verp.toggled.connect(self._revalidate)
        self._add(form, "verp", "", self.verp, "")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.password.setPlaceholderText("empty: keep the saved password")
        self._add(form, "password", "Pass&word", self.password, "Kept in the keyring.")
        self.save_button = QPushButton("&Save")
        self.save_button.clicked.connect(self.save)
        self.test_button = QPushButton("&Test")
        self.test_button.clicked.connect(self.test)
        self.scan_button = QPushButton("Scan &now")
        self.scan_button.clicked.connect(self.scan_now)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Scan progress")
        self.progress.setVisible(False)
        self.trust_button = QPushButton("Trust this certifi&cate")
        self.trust_button.setToolTip(
            "Pin the certificate the server showed (its SHA-256): only it will be accepted."
        )
        self.trust_button.setVisible(False)
        self.trust_button.clicked.connect(self.trust)
        self.offered_pin = ""  # the SHA-256 the trust button would pin
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setAccessibleName("Test result")
        self.last_scan = QLabel("No scan yet.")
        self.last_scan.setWordWrap(True)
        self.last_scan.setAccessibleName("Last scan")
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.scan_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        inner = QWidget()  # in a scroll area: the page never sets the window's least height
        layout = QVBoxLayout(inner)
        layout.addWidget(box)
        layout.addWidget(
            caption(
                "Hard bounces, complaints and unsubscribe requests put the address on the "
                "suppression list; soft bounces after 3 campaigns."
            )
        )
        layout.addWidget(self.test_result)
        layout.addWidget(self.trust_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.progress)
        layout.addWidget(self.last_scan)
        layout.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addWidget(scrolling(inner), 1)
        outer.addLayout(buttons)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._scheduled_scan)

    def _add(
        self, form: QFormLayout, key: str, label: str, editor: QWidget, help_text: str
    ) -> None:
        row = FieldRow(editor, help_text)
        text = QLabel(label)
        text.setBuddy(editor)
        form.addRow(text, row)
        self.rows[key] = row

    # --- load and save ----------------------------------------------------------------

    def load(self) -> None:
        book = FeedbackBook(self.bridge.store)

        def loaded(found: tuple[MailboxSettings, tuple[float, dict[str, Any]] | None]) -> None:
            settings, last = found
            self.show_settings(settings)
            if last is not None:
                self.last_scan.setText(describe_result(last[1], last[0]))

        self.bridge.start(self.bridge.read(lambda: (book.mailbox(), book.last_scan())), done=loaded)

    def show_settings(self, s: MailboxSettings) -> None:
        self.settings = s
        self.enabled.setChecked(s.enabled)
        for key, combo in self.combos.items():
            combo.setCurrentText(str(getattr(s, key)))
        for key, line in self.lines.items():
            value = getattr(s, key)
            line.setText(format_duration(value) if key == "scan_interval" else str(value))
        self.skip_verify.setChecked(s.tls_skip_verify)
        self.verp.setChecked(s.verp)
        self.validate()
        self._schedule()

    def values(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: line.text() for k, line in self.lines.items()}
        data.update({k: combo.currentText() for k, combo in self.combos.items()})
        data["enabled"] = self.enabled.isChecked()
        data["tls_skip_verify"] = self.skip_verify.isChecked()
        data["verp"] = self.verp.isChecked()
        return data

    def _revalidate(self) -> None:
        self.validate()

    def validate(self) -> MailboxReport:
        """The form's check; the named OAuth server is checked on save, against the store."""
        report = parse_mailbox({**self.values(), "oauth_server": ""}, base=self.settings)
        for key, row in self.rows.items():
            row.show_problems(report.for_field(key))
        self.save_button.setEnabled(not report.errors)
        return report

    def save(self) -> None:
        if self.validate().errors:
            return

        def saved(report: MailboxReport) -> None:
            for key, row in self.rows.items():
                row.show_problems(report.for_field(key))
            if report.settings is None:
                self.bridge.notifier.error("The mailbox was not saved.", "See the fields named.")
                return
            self.password.clear()
            self.settings = report.settings
            self._schedule()
            self.bridge.notifier.info("Saved the mailbox.")

        data, password = self.values(), self.password.text()
        self.bridge.start(
            self.bridge.write(save_mailbox, self.bridge.store, data, password), done=saved
        )

    # --- test and scan ----------------------------------------------------------------

    def test(self) -> None:
        if self.validate().errors:
            return
        report = parse_mailbox(self.values(), base=self.settings)
        servers = self.bridge.store.servers  # the OAuth server: looked up in the test's task
        self.test_button.setEnabled(False)
        self.trust_button.setVisible(False)
        self.test_result.setText("Testing…")
        task = self._check(report, servers)
        self.bridge.start(task, done=self._tested, failed=self._test_failed)

    async def _check(self, report: MailboxReport, servers: Any) -> MailboxCheck:
        if report.settings is None or self.values()["oauth_server"]:
            found = await self.bridge.read(servers)
            report = parse_mailbox(self.values(), base=self.settings, servers=found)
            if report.settings is None:
                raise KnownError("; ".join(map(str, report.errors)), "Correct the fields named.")
        return await scanning.check_mailbox(
            self.bridge.store, report.settings, self.password.text() or None
        )

    def _tested(self, check: MailboxCheck) -> None:
        self.test_button.setEnabled(True)
        lines = [
            f"{'✓' if s.ok else '✗'} {html.escape(s.name)}: {html.escape(s.detail)}"
            for s in check.steps
        ]
        if check.certificate is not None:
            lines.append(f"certificate SHA-256 {format_fingerprint(check.certificate.sha256)}")
            lines.append(html.escape(check.certificate.summary()))
        trustable = check.trustable()
        self.offered_pin = trustable.sha256 if trustable else ""
        self.trust_button.setVisible(trustable is not None)
        if check.diagnosis is not None:
            lines.append(f"<b>{html.escape(check.diagnosis.message)}</b>")
            lines.extend(html.escape(h) for h in check.diagnosis.hints)
        else:
            lines.append("<b>All steps passed.</b>")
        self.test_result.setText("<br>".join(lines))

    def trust(self) -> None:
        """Pin the certificate the last Test showed; saved with the rest by Save."""
        if not self.offered_pin:
            return
        self.lines["tls_pin_sha256"].setText(self.offered_pin)
        self.skip_verify.setChecked(False)  # the pin is the check now
        self.trust_button.setVisible(False)
        self.validate()
        self.test_result.setText(
            "The certificate is pinned in the form: Save to keep it, then Test again."
        )
        self.lines["tls_pin_sha256"].setFocus()

    def _test_failed(self, exc: BaseException) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(html.escape(str(exc)))
        self.bridge.report(exc)

    def scan_now(self) -> None:
        if self.scanning:
            return
        self.scanning = True
        self.scan_button.setEnabled(False)
        self.progress.setRange(0, 0)  # busy until the first message
        self.progress.setVisible(True)
        task = scanning.scan(  # its writes on the bridge's one writer thread
            self.bridge.store, on_progress=self._progress, write=self.bridge.write_from_worker
        )
        self.bridge.start(task, done=self._scanned, failed=self._scan_failed)

    def _progress(self, progress: scanning.ScanProgress) -> None:
        total = max(1, min(progress.limit, progress.in_folder))
        self.progress.setRange(0, total)
        self.progress.setValue(min(progress.read, total))
        self.progress.setFormat(f"{counted(progress.read, 'message')} read")

    def _scanned(self, result: scanning.ScanResult) -> None:
        self._scan_over()
        self.last_scan.setText(describe_result(result.to_dict(), result.finished_at))
        if result.diagnosis is not None:
            self.bridge.notifier.error(result.diagnosis.message, " ".join(result.diagnosis.hints))
        self.scanned.emit()

    def _scan_failed(self, exc: BaseException) -> None:
        self._scan_over()
        self.last_scan.setText(html.escape(f"The scan did not start: {exc}"))
        self.bridge.report(exc)

    def _scan_over(self) -> None:
        self.scanning = False
        self.scan_button.setEnabled(True)
        self.progress.setVisible(False)

    def _schedule(self) -> None:
        """Scan every ``scan_interval`` while the app runs, when the mailbox is enabled."""
        if self.settings.enabled and self.settings.host:
            self.timer.start(int(self.settings.scan_interval * 1000))
        else:
            self.timer.stop()

    def _scheduled_scan(self) -> None:
        if not self.scanning:
            self.scan_now()
