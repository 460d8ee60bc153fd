"""Servers that ask to wait (421, greylisting) and failures retried while a run goes on."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from smtpdesk.core.campaign.engine import GREYLIST_TRIES, CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger, RecipientState
from smtpdesk.core.store import Store
from tests.helpers.smtpd import Faults, SmtpdFactory
from tests.integration.campaign.helpers import (
    add_server,
    addresses,
    by_email,
    make_campaign,
    received,
)

GREYLISTED = "451 4.7.1 Greylisted, please try again later"


async def test_421_backs_the_server_off_then_everyone_is_sent(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    busy = ["421 4.7.0 Too many messages, slow down"] * 3
    server = await smtpd_factory("plain", faults=Faults(data_replies=list(busy)))
    add_server(store, server)
    campaign = make_campaign(store, addresses(20), concurrency=1)
    runner = CampaignRunner(store, campaign, pool_options={"backoff_start": 0.2})
    started = time.monotonic()
    assert await runner.run() == CampaignState.FINISHED
    assert time.monotonic() - started >= 0.2 + 0.4 + 0.8  # waited, doubling
    assert Ledger(store).counts(campaign) == Counts(sent=20)
    assert len(server.stats.refused_peers) == 3  # each 421 once: never retried at once
    assert sorted(received(server)) == sorted(addresses(20))


async def test_a_greylisted_message_is_sent_again_after_the_delay(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(data_replies=[GREYLISTED]))
    add_server(store, server)
    emails = addresses(5)
    campaign = make_campaign(store, emails, concurrency=1)
    runner = CampaignRunner(store, campaign, greylist_delay=0.5)
    started = time.monotonic()
    assert await runner.run() == CampaignState.FINISHED
    assert time.monotonic() - started >= 0.5
    assert Ledger(store).counts(campaign) == Counts(sent=5)
    order = received(server)
    assert order[-1] == "u0@example.com"  # the greylisted first one came last
    assert Counter(order) == Counter(emails)
    assert by_email(store, campaign)["u0@example.com"].attempts == 2


async def test_a_message_greylisted_every_time_fails_as_greylisted_and_temporary(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    faults = Faults(rcpt_replies={"u1@example.com": GREYLISTED})
    server = await smtpd_factory("plain", faults=faults)
    add_server(store, server)
    campaign = make_campaign(store, addresses(3), concurrency=2)
    runner = CampaignRunner(store, campaign, greylist_delay=0.05)
    assert await runner.run() == CampaignState.FINISHED
    row = by_email(store, campaign)["u1@example.com"]
    assert (row.state, row.cause, row.temporary) == ("failed", "greylisted", True)
    assert row.attempts == GREYLIST_TRIES
    progress = runner.progress()
    assert progress is not None and progress.errors[0].title == "Greylisted by the server (451)"


async def test_pausing_while_a_greylisted_message_waits_leaves_it_pending(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(data_replies=[GREYLISTED]))
    add_server(store, server)
    campaign = make_campaign(store, addresses(3), concurrency=1)
    runner = CampaignRunner(store, campaign, greylist_delay=60)
    task = asyncio.create_task(runner.run())
    await server.wait_until(lambda: len(server.messages) == 2)
    await asyncio.sleep(0.1)
    assert runner.progress() is not None
    runner.pause()
    assert await asyncio.wait_for(task, 5) == CampaignState.PAUSED
    assert Ledger(store).counts(campaign) == Counts(pending=1, sent=2)


async def test_failures_retried_while_the_run_goes_on_are_sent_by_that_run(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    faults = Faults(rcpt_replies={"u0@example.com": "452 4.2.2 Mailbox full"})
    server = await smtpd_factory("plain", faults=faults)
    add_server(store, server, msg_retry_delay=0.0)
    campaign = make_campaign(store, addresses(40), concurrency=1, message_rate=40)
    ledger = Ledger(store)
    runner = CampaignRunner(store, campaign)
    task = asyncio.create_task(runner.run())

    for _ in range(200):  # the writer commits every 250 ms
        if ledger.recipients(campaign, RecipientState.FAILED):
            break
        await asyncio.sleep(0.05)
    assert not task.done()
    assert await asyncio.to_thread(ledger.runner_active, campaign)
    faults.rcpt_replies.clear()
    assert await asyncio.to_thread(ledger.retry_failed, campaign) == 1
    assert await task == CampaignState.FINISHED
    assert ledger.counts(campaign) == Counts(sent=40)
    assert "u0@example.com" in received(server)
    progress = runner.progress()
    assert progress is not None and progress.counts == Counts(sent=40)
    assert not ledger.runner_active(campaign)
