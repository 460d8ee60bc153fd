"""A campaign killed with SIGKILL mid-way and resumed: nobody lost, few sent twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.store import Store
from tests.helpers.smtpd import SmtpdFactory
from tests.integration.campaign.helpers import (
    add_server,
    addresses,
    make_campaign,
    received,
    start_send,
)

TOTAL = 5000


async def test_sigkill_then_resume(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    emails = addresses(TOTAL)
    campaign = make_campaign(store, emails, message_rate=400, concurrency=8)
    process = await start_send(data_dir, campaign)
    try:
        await server.wait_until(lambda: len(server.messages) >= 1200, limit=120)
    finally:
        process.kill()  # SIGKILL: no handler runs, nothing is flushed
        await process.communicate()
    assert process.returncode == -9

    counts = Ledger(store).counts(campaign)
    assert 0 < counts.sent < TOTAL and counts.pending > 0
    sending_at_kill = counts.sending

    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED

    times = Counter(received(server))
    assert set(times) == set(emails)  # everyone received it at least once
    twice = [email for email, n in times.items() if n > 1]
    print(f"sent before kill {counts.sent}, sending at kill {sending_at_kill}, twice {len(twice)}")
    assert max(times.values()) <= 2
    assert len(twice) <= sending_at_kill
    assert Ledger(store).counts(campaign).sent == TOTAL
