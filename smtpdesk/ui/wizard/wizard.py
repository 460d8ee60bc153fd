"""The send-campaign wizard: file → content → delivery → test → review → Send.

The pages build a draft campaign in the ledger as they go; Cancel deletes it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.wizard.content_page import ContentPage
from smtpdesk.ui.wizard.delivery_page import DeliveryPage
from smtpdesk.ui.wizard.recipients_page import RecipientsPage
from smtpdesk.ui.wizard.review_page import ReviewPage
from smtpdesk.ui.wizard.state import WizardState
from smtpdesk.ui.wizard.test_page import TestSendPage


class CampaignWizard(QWizard):
    sent = Signal(int)  # the campaign id, once it is ready to run

    def __init__(self, bridge: Bridge, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("smtpdesk — New campaign")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.state = WizardState(bridge, prompts)
        self.recipients = RecipientsPage(self.state)
        self.content = ContentPage(self.state)
        self.delivery = DeliveryPage(self.state)
        self.test_send = TestSendPage(self.state)
        self.review = ReviewPage(self.state)
        for page in (self.recipients, self.content, self.delivery, self.test_send, self.review):
            self.addPage(page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "&Send")
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self.resize(980, 700)
        self.rejected.connect(self._drop_draft)

    def accept(self) -> None:
        campaign_id = self.state.campaign_id
        super().accept()
        if campaign_id is not None:
            bridge = self.state.bridge
            # Queued behind the pages' own writes on the serial writer, so they are all stored.
            bridge.start(bridge.write(lambda: None), done=lambda _r: self.sent.emit(campaign_id))

    def _drop_draft(self) -> None:
        if self.state.campaign_id is not None:
            bridge = self.state.bridge
            bridge.start(bridge.write(self.state.ledger.delete_campaign, self.state.campaign_id))
            self.state.campaign_id = None
