"""Test send: one rendered message to one address through the chosen messenger."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QPushButton, QWizardPage

from smtpdesk.core.campaign.content import Renderer, recipient_fields
from smtpdesk.core.messengers import resolve_messenger
from smtpdesk.core.smtp.types import SendError, SendResult
from smtpdesk.core.store import Store
from smtpdesk.ui.widgets import tone
from smtpdesk.ui.wizard.state import WizardState


async def send_test(store: Store, state: WizardState, to: str) -> SendResult:
    """Render the first recipient's message, address it to ``to`` and send it once."""
    import asyncio

    from smtpdesk.core.smtp.messenger import MessengerSender

    sample = state.sample[0]
    fields = recipient_fields(sample.email, sample.fields)
    message = Renderer(state.content).render(fields)
    del message["To"]
    message["To"] = to
    servers = await asyncio.to_thread(store.servers)
    messenger = resolve_messenger(servers, str(state.delivery.get("messenger", "email")))
    sender = await asyncio.to_thread(MessengerSender, messenger)
    try:
        return await sender.send(message, recipients=[to])
    finally:
        await sender.close()


class TestSendPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("Test send")
        self.setSubTitle("Send the first recipient's message to an address of yours (optional).")
        self.to = QLineEdit()
        self.to.setAccessibleName("Test address")
        self.to.setPlaceholderText("you@example.com")
        self.send = QPushButton("Send &test")
        self.send.clicked.connect(self.send_now)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setAccessibleName("Test result")
        form = QFormLayout(self)
        form.addRow("Send &to", self.to)
        form.addRow("", self.send)
        form.addRow("Result", self.result)

    def send_now(self) -> None:
        to = self.to.text().strip()
        if not to or not self.state.sample:
            self.result.setText("Enter an address first.")
            return
        self.send.setEnabled(False)
        self.result.setStyleSheet("")
        self.result.setText(f"Sending to {to}…")
        self.state.bridge.start(
            send_test(self.state.store, self.state, to), done=self._sent, failed=self._failed
        )

    def _sent(self, result: SendResult) -> None:
        self.send.setEnabled(True)
        self.result.setStyleSheet(f"color: {tone('ok')};")
        self.result.setText(f"✔ Accepted: {result.reply}")

    def _failed(self, exc: BaseException) -> None:
        self.send.setEnabled(True)
        self.result.setStyleSheet(f"color: {tone('error')};")
        if isinstance(exc, SendError):
            d = exc.diagnosis
            hints = "".join(f"<br>• {h}" for h in d.hints)
            self.result.setText(f"✖ {d.message}{hints}")
        else:
            self.result.setText(f"✖ {exc}")
