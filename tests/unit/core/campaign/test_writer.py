"""The serial writer: batches outcomes and never loses them to a cancellation."""

from __future__ import annotations

import asyncio
import time

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Counts, Ledger, Outcome, RecipientState
from smtpdesk.core.campaign.writer import LedgerWriter
from smtpdesk.core.store import Store


async def test_a_cancelled_flush_still_commits(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent(subject="s", from_address="a@example.com", text="t")
    campaign = ledger.create_campaign("c", content)
    ledger.insert_recipients(campaign, [{"line": 2, "email": "a@example.com", "fields": {}}])
    writer = LedgerWriter(ledger, campaign)
    [(rid, _, _)] = await writer.claim(0, 10)
    busy = asyncio.ensure_future(writer.call(time.sleep, 0.3))  # the thread is occupied
    writer.record(Outcome(rid, RecipientState.SENT, attempts=1))
    flushing = asyncio.create_task(writer.flush())  # queued behind the sleep
    await asyncio.sleep(0.05)
    flushing.cancel()
    await asyncio.gather(flushing, busy, return_exceptions=True)
    await writer.flush()
    writer.close()
    assert ledger.counts(campaign) == Counts(sent=1)
    assert writer.commits >= 1
