"""The engine at an unlimited rate in one process: no limiter, claims fed to the workers
a claim at a time (issue 13, CPU per message), against aiosmtpd and a real SQLite ledger."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from smtpdesk.core.campaign.engine import MAX_CLAIM, CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger
from smtpdesk.core.campaign.progress import Progress
from smtpdesk.core.settings import MAX_RATE
from smtpdesk.core.store import Store
from tests.helpers.smtpd import SmtpdFactory
from tests.integration.campaign.helpers import add_server, addresses, make_campaign, received

CONCURRENCY = 4


def unlimited_campaign(store: Store, count: int) -> int:
    """``count`` recipients at the unlimited rate, sent in this process (no worker processes)."""
    store.put_app_settings(replace(store.app_settings(), worker_processes=0))
    return make_campaign(store, addresses(count), message_rate=MAX_RATE, concurrency=CONCURRENCY)


async def test_claims_stay_a_claim_ahead_of_the_workers(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    """The producer claims the next batch only when the workers have nearly emptied the
    last one: never more than one claim, the queue's low-water mark and the messages in
    flight are ``sending`` at once (what a crash would send twice)."""
    server = await smtpd_factory("plain")
    add_server(store, server)
    count = MAX_CLAIM + 200  # two claims
    campaign = unlimited_campaign(store, count)
    runner = CampaignRunner(store, campaign)
    most_sending = 0

    async def watch() -> None:
        nonlocal most_sending
        while True:
            progress = runner.progress()
            if progress is not None:
                most_sending = max(most_sending, progress.counts.sending)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        assert await runner.run() == CampaignState.FINISHED
    finally:
        watcher.cancel()
    assert Counter(received(server)) == Counter(addresses(count))
    assert Ledger(store).counts(campaign) == Counts(sent=count)
    assert MAX_CLAIM <= most_sending <= MAX_CLAIM + 3 * CONCURRENCY


async def test_pause_puts_the_claimed_back_and_resume_sends_each_once(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    count = 300
    campaign = unlimited_campaign(store, count)
    runner: CampaignRunner

    def on_progress(progress: Progress) -> None:
        if progress.counts.sent >= 20:
            runner.pause()

    runner = CampaignRunner(store, campaign, on_progress=on_progress)
    assert await runner.run() == CampaignState.PAUSED
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and counts.pending > 0
    assert counts.sent == len(received(server)) == count - counts.pending

    runner.on_progress = None
    assert await runner.run() == CampaignState.FINISHED
    assert Counter(received(server)) == Counter(addresses(count))
    assert Ledger(store).counts(campaign) == Counts(sent=count)
