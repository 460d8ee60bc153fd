"""Shared set-up for campaign tests: servers in the store and a campaign with recipients."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger, Recipient
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.store import Store
from tests.helpers.smtpd import SmtpdServer, settings_for

CONTENT = CampaignContent(
    subject="Hello {{ name }}",
    from_address="news@example.com",
    from_name="News",
    html="<p>Hi <b>{{ name }}</b></p>",
)


def add_server(store: Store, server: SmtpdServer, **overrides: Any) -> ServerSettings:
    settings = settings_for(server, **overrides)
    store.put_server(settings)
    return settings


def addresses(n: int, prefix: str = "u") -> list[str]:
    return [f"{prefix}{i}@example.com" for i in range(n)]


def make_campaign(
    store: Store, emails: list[str], content: CampaignContent = CONTENT, **settings: Any
) -> int:
    ledger = Ledger(store)
    settings.setdefault("message_rate", 1000)
    settings.setdefault("concurrency", 4)
    campaign = ledger.create_campaign("test", content, **settings)
    ledger.insert_recipients(
        campaign,
        [{"line": i + 2, "email": e, "fields": {"name": f"N{i}"}} for i, e in enumerate(emails)],
    )
    return campaign


def received(server: SmtpdServer) -> list[str]:
    return [rcpt for message in server.messages for rcpt in message.rcpt_tos]


def by_email(store: Store, campaign: int) -> dict[str, Recipient]:
    return {r.email: r for r in Ledger(store).recipients(campaign, limit=1_000_000)}


async def start_send(
    data_dir: Path,
    campaign: int,
    output: int = asyncio.subprocess.PIPE,
    *,
    new_session: bool = False,
) -> asyncio.subprocess.Process:
    """``smtpdesk campaign send`` in a process of its own, to kill or signal mid-way;
    ``new_session``: in a process group of its own, as a terminal's job."""
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "smtpdesk", "--data-dir", str(data_dir)),
        *("campaign", "send", str(campaign), "--no-progress"),
        stdout=output,
        stderr=output,
        start_new_session=new_session,
    )
