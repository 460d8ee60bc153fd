"""The send-campaign wizard: file → content → delivery → test → review → Send.

``CampaignWizard(bridge, prompts)`` makes a new campaign; ``campaign_id=N`` opens a
stored draft or scheduled campaign with everything filled in (``reason``: why it
could not start, shown on the first page and on Review). The recipients are imported
into a draft as soon as a file is chosen; everything else is saved on Send, through
:func:`smtpdesk.core.campaign.drafts.save_draft`, and a campaign that still cannot
start keeps the wizard open with the reason on Review. Cancel deletes the draft the
wizard made, never the campaign it was opened on.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from smtpdesk.core.campaign.drafts import Draft, load_draft, save_draft
from smtpdesk.core.campaign.review import start_problem
from smtpdesk.core.errors import KnownError
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.widgets import guard_wheel
from smtpdesk.ui.window_state import clamp_to_screen
from smtpdesk.ui.wizard.content_page import ContentPage
from smtpdesk.ui.wizard.delivery_page import DeliveryPage
from smtpdesk.ui.wizard.recipients_page import RecipientsPage
from smtpdesk.ui.wizard.review_page import ReviewPage
from smtpdesk.ui.wizard.state import WizardState
from smtpdesk.ui.wizard.test_page import TestSendPage


class CampaignWizard(QWizard):
    sent = Signal(int)  # the campaign id, once it is saved and ready to run
    loaded = Signal()  # an edited campaign's values are on the pages

    def __init__(
        self,
        bridge: Bridge,
        prompts: Prompts,
        parent: QWidget | None = None,
        *,
        campaign_id: int | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(parent)
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
        clamp_to_screen(self)  # the buttons stay on a small or scaled screen
        guard_wheel(self)  # a scroll over a combo or a spin box scrolls the page, not the value
        self.rejected.connect(self._drop_draft)
        self.saving = False
        if campaign_id is None:
            self.setWindowTitle("smtpdesk — New campaign")
        else:
            self.setWindowTitle(f"smtpdesk — Edit campaign {campaign_id}")
            self.state.campaign_id = self.state.recipients_id = campaign_id
            self.state.editing = True
            self.recipients.show_reason(reason)
            bridge.start(
                bridge.read(load_draft, self.state.ledger, campaign_id),
                done=self._loaded,
                failed=self._load_failed,
            )

    def _loaded(self, draft: Draft) -> None:
        state, campaign = self.state, draft.campaign
        state.name, state.content = campaign.name, campaign.content
        state.fields, state.sample = draft.columns, draft.sample
        state.recipient_count = draft.recipients
        state.send_at = campaign.send_at
        self.recipients.fill(draft)
        self.content.fill(campaign.content)
        self.delivery.fill(
            {
                "messenger": campaign.messenger,
                "concurrency": campaign.concurrency,
                "message_rate": campaign.message_rate,
            },
            campaign.send_at,
        )
        self.loaded.emit()

    def _load_failed(self, exc: BaseException) -> None:
        self.recipients.show_reason(str(exc) if isinstance(exc, KnownError) else repr(exc))
        self.state.bridge.report(exc)
        self.state.campaign_id = self.state.recipients_id = None  # nothing to save or drop
        self.state.editing = False

    def accept(self) -> None:
        """Save everything, check the campaign can start, and only then close."""
        state = self.state
        if state.campaign_id is None or self.saving:
            return
        self.saving = True
        self.button(QWizard.WizardButton.FinishButton).setEnabled(False)
        campaign_id, bridge = state.campaign_id, state.bridge

        def save() -> str:
            save_draft(
                state.ledger,
                campaign_id,
                name=state.name,
                content=state.content,
                send_at=state.send_at,
                delivery=state.delivery,
                recipients_from=state.scratch_id if state.editing else None,
            )
            return start_problem(state.store, campaign_id)

        # On the serial writer, behind any write a page started.
        bridge.start(bridge.write(save), done=self._saved, failed=self._not_saved)

    def _saved(self, problem: str) -> None:
        self.saving = False
        state = self.state
        if state.editing:
            state.recipients_id = state.campaign_id  # the scratch draft is merged
        if problem:
            self.review.refuse(problem)
            return
        campaign_id = state.campaign_id
        assert campaign_id is not None
        super().accept()
        self.sent.emit(campaign_id)

    def _not_saved(self, exc: BaseException) -> None:
        self.saving = False
        self.review.refuse(str(exc) if isinstance(exc, KnownError) else repr(exc))
        if not isinstance(exc, KnownError):
            self.state.bridge.report(exc)

    def done(self, result: int) -> None:
        self.content.stop()
        self.review.stop()
        super().done(result)

    def _drop_draft(self) -> None:
        state = self.state
        drop = state.scratch_id
        if drop is not None:
            bridge = state.bridge
            bridge.start(bridge.write(state.ledger.delete_campaign, drop))
        state.campaign_id = state.recipients_id = None
