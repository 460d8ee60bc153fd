"""What the wizard's pages share: the campaign, its recipients, the content, the delivery.

Nothing but the recipients is stored before Send: the pages keep their values in
their widgets (so Back and Next lose nothing) and copy them here when left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger, Recipient
from smtpdesk.core.campaign.recipients import FileInfo, ImportReport
from smtpdesk.core.store import Store
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.prompts import Prompts


@dataclass
class WizardState:
    bridge: Bridge
    prompts: Prompts
    campaign_id: int | None = None  # the campaign Send saves (None until a file is imported)
    editing: bool = False  # opened on a stored campaign, which Cancel must leave as it was
    recipients_id: int | None = None  # the draft holding the recipients Review checks
    recipient_count: int = 0
    info: FileInfo | None = None
    imported: ImportReport | None = None
    sample: list[Recipient] = field(default_factory=list)  # the first recipients, for previews
    fields: tuple[str, ...] = ()  # the columns other than the address
    name: str = ""
    content: CampaignContent = field(default_factory=lambda: CampaignContent("", ""))
    delivery: dict[str, Any] = field(default_factory=dict)  # messenger, concurrency, ...
    send_at: float | None = None

    @property
    def store(self) -> Store:
        return self.bridge.store

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.bridge.store)

    @property
    def scratch_id(self) -> int | None:
        """The draft this wizard made for a new file, when it is not the campaign itself."""
        if self.editing and self.recipients_id != self.campaign_id:
            return self.recipients_id
        return None if self.editing else self.recipients_id
