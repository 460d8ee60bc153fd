"""What the wizard's pages share: the draft campaign, the imported file, the content."""

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
    campaign_id: int | None = None
    info: FileInfo | None = None
    imported: ImportReport | None = None
    sample: list[Recipient] = field(default_factory=list)  # the first recipients, for previews
    fields: tuple[str, ...] = ()
    content: CampaignContent = field(default_factory=lambda: CampaignContent("", ""))
    delivery: dict[str, Any] = field(default_factory=dict)  # messenger, concurrency, ...
    send_at: float | None = None

    @property
    def store(self) -> Store:
        return self.bridge.store

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.bridge.store)
