"""Drafts as the wizard builds and edits them: recipients first, everything else on Send.

A new campaign's recipients are imported into a draft of their own as soon as a file
is chosen (a million rows cannot wait in memory). Editing an existing campaign
imports a new file into a scratch draft, and :func:`save_draft` moves those
recipients over only when the edit is saved, so Cancel leaves the campaign as it was.
Name, content, delivery and schedule are saved through
:func:`smtpdesk.core.campaign.actions.edit_campaign`, as the CLI's ``campaign edit``.

Everything here is blocking SQLite: the GUI calls it through the bridge's threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import delete, select, update

from smtpdesk.core.campaign.actions import Action, campaign_status, edit_campaign, require
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Campaign, Ledger, Recipient
from smtpdesk.core.campaign.recipients import FileInfo, ImportReport, import_file
from smtpdesk.core.campaign.review import campaign_columns
from smtpdesk.core.store.schema import campaigns, recipients

SAMPLE = 50  # recipients kept for previews and the test send


@dataclass(frozen=True)
class Draft:
    """A stored campaign as the wizard opens it for editing."""

    campaign: Campaign
    columns: tuple[str, ...]
    recipients: int
    sample: list[Recipient]


@dataclass(frozen=True)
class Imported:
    campaign_id: int
    report: ImportReport
    columns: tuple[str, ...]
    sample: list[Recipient]


def load_draft(ledger: Ledger, campaign_id: int) -> Draft:
    """The campaign with its columns and first recipients; refused unless it may be edited."""
    require(campaign_status(ledger, campaign_id), Action.EDIT)
    return Draft(
        ledger.campaign(campaign_id),
        campaign_columns(ledger, campaign_id),
        ledger.recipient_count(campaign_id),
        ledger.recipients(campaign_id, limit=SAMPLE),
    )


def import_into_draft(
    ledger: Ledger, scratch_id: int | None, name: str, info: FileInfo, column: str
) -> Imported:
    """A fresh draft holding the rows of ``info``; the previous scratch draft is dropped.

    ``scratch_id`` must be a draft this wizard made for its recipients, never the
    campaign being edited.
    """
    if scratch_id is not None:
        ledger.delete_campaign(scratch_id)
    # Importing until the last row is in: a kill meanwhile leaves nothing after a restart.
    campaign_id = ledger.create_campaign(name or info.path.stem, None, importing=True)
    try:
        report = import_file(ledger, campaign_id, info.path, column, info=info)
        ledger.finish_import(campaign_id)
    except BaseException:
        ledger.delete_campaign(campaign_id)
        raise
    columns = tuple(c for c in info.columns if c and c != column)
    return Imported(campaign_id, report, columns, ledger.recipients(campaign_id, limit=SAMPLE))


def content_changes(content: CampaignContent) -> dict[str, Any]:
    """Every field of ``content``, as :func:`edit_campaign` takes them."""
    return {f.name: getattr(content, f.name) for f in fields(content)}


def save_draft(
    ledger: Ledger,
    campaign_id: int,
    *,
    name: str,
    content: CampaignContent,
    send_at: float | None,
    delivery: Mapping[str, Any],
    recipients_from: int | None = None,
) -> Campaign:
    """Store what the wizard holds; ``recipients_from``: a scratch draft whose recipients
    replace the campaign's (the scratch draft is then deleted)."""
    campaign = edit_campaign(
        ledger,
        campaign_id,
        name=name,
        content=content_changes(content),
        send_at=send_at,
        **delivery,
    )
    if recipients_from is not None and recipients_from != campaign_id:
        adopt_recipients(ledger, recipients_from, campaign_id)
        campaign = ledger.campaign(campaign_id)
    return campaign


def adopt_recipients(ledger: Ledger, source: int, target: int) -> None:
    """Replace ``target``'s recipients by ``source``'s, in one transaction; drop ``source``."""
    with ledger.engine.begin() as conn:
        row = conn.execute(
            select(campaigns.c.fields, campaigns.c.field_counts).where(campaigns.c.id == source)
        ).one()
        conn.execute(delete(recipients).where(recipients.c.campaign_id == target))
        conn.execute(
            update(recipients).where(recipients.c.campaign_id == source).values(campaign_id=target)
        )
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == target)
            .values(fields=row.fields, field_counts=row.field_counts)
        )
        conn.execute(delete(campaigns).where(campaigns.c.id == source))


def save_content(ledger: Ledger, campaign_id: int, content: CampaignContent) -> Campaign:
    """The content alone, as the wizard saves it with a new draft while the user types."""
    return edit_campaign(ledger, campaign_id, content=content_changes(content))
