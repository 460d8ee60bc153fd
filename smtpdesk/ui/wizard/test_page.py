"""Test send: the chosen recipient's message to addresses of yours, through the messenger."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWizardPage,
)

from smtpdesk.core.campaign.trial import TrialOutcome, parse_addresses, send_test
from smtpdesk.core.errors import KnownError
from smtpdesk.ui.widgets import tone
from smtpdesk.ui.wizard.state import WizardState


class TestSendPage(QWizardPage):
    __test__ = False  # not a pytest class

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("Test send")
        self.setSubTitle(
            "Send a recipient's message to addresses of yours (optional): several can be "
            "given, separated by commas."
        )
        self.to = QLineEdit()
        self.to.setAccessibleName("Test addresses")
        self.to.setPlaceholderText("you@example.com, colleague@example.com")
        self.as_recipient = QComboBox()
        self.as_recipient.setAccessibleName("Message of")
        self.send = QPushButton("Send &test")
        self.send.clicked.connect(self.send_now)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.result.setAccessibleName("Test result")
        form = QFormLayout(self)
        form.addRow("&Addresses", self.to)
        form.addRow("Message &of", self.as_recipient)
        form.addRow("", self.send)
        form.addRow("Result", self.result)

    def initializePage(self) -> None:
        chosen = self.as_recipient.currentText()
        self.as_recipient.clear()
        self.as_recipient.addItems([r.email for r in self.state.sample])
        if chosen:
            self.as_recipient.setCurrentText(chosen)

    def send_now(self) -> None:
        index = self.as_recipient.currentIndex()
        try:
            addresses = parse_addresses(self.to.text())
        except KnownError as exc:
            self._show("error", html.escape(exc.message))
            return
        if not 0 <= index < len(self.state.sample):
            self._show("error", "There is no recipient whose message to send.")
            return
        sample = self.state.sample[index]
        self.send.setEnabled(False)
        self._show("muted", html.escape(f"Sending to {', '.join(addresses)}…"))
        state = self.state
        state.bridge.start(
            send_test(
                state.store,
                state.content,
                (sample.email, sample.fields),
                state.fields,
                str(state.delivery.get("messenger", "email")),
                addresses,
            ),
            done=self._sent,
            failed=self._failed,
        )

    def _show(self, kind: str, text: str) -> None:
        self.result.setStyleSheet(f"color: {tone(kind)};")
        self.result.setText(text)

    def _sent(self, outcomes: list[TrialOutcome]) -> None:
        self.send.setEnabled(True)
        lines = []
        for o in outcomes:
            if o.result is not None:
                lines.append(f"✔ {html.escape(o.address)}: accepted: {html.escape(o.result.reply)}")
            elif o.error is not None:
                hints = "".join(f"<br>&nbsp;&nbsp;• {html.escape(h)}" for h in o.error.hints)
                lines.append(f"✖ {html.escape(o.address)}: {html.escape(o.error.message)}{hints}")
        self._show("ok" if all(o.ok for o in outcomes) else "error", "<br>".join(lines))

    def _failed(self, exc: BaseException) -> None:
        self.send.setEnabled(True)
        if isinstance(exc, KnownError):
            hint = f"<br>• {html.escape(exc.hint)}" if exc.hint else ""
            self._show("error", f"✖ {html.escape(exc.message)}{hint}")
        else:
            self.state.bridge.report(exc)
            self._show("error", f"✖ {html.escape(repr(exc))}")
