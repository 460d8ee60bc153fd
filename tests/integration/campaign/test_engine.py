"""The engine against real aiosmtpd servers on 127.0.0.1 and a real SQLite ledger."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import pytest
from sqlalchemy import event

from smtpdesk.core.campaign.content import CampaignContent, TemplateError
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger, RecipientState
from smtpdesk.core.campaign.progress import Progress
from smtpdesk.core.campaign.suppressions import SuppressionList
from smtpdesk.core.store import Store
from tests.helpers.smtpd import Faults, SmtpdFactory
from tests.integration.campaign.helpers import (
    add_server,
    addresses,
    by_email,
    make_campaign,
    received,
)


async def test_sends_each_recipient_once_and_records_it(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    settings = add_server(store, server)
    emails = addresses(300)
    campaign = make_campaign(store, emails, concurrency=5)
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    events: list[Progress] = []
    moments: list[float] = []

    def on_progress(progress: Progress) -> None:
        events.append(progress)
        moments.append(time.monotonic())

    runner = CampaignRunner(store, campaign, on_progress=on_progress)

    assert await runner.run() == CampaignState.FINISHED

    assert sorted(received(server)) == sorted(emails)
    assert Ledger(store).counts(campaign) == Counts(sent=300)
    row = by_email(store, campaign)["u7@example.com"]
    assert row.server_uuid == settings.uuid and row.reply == "250 2.0.0 OK: queued"
    assert row.attempts == 1 and row.sent_at is not None
    assert len(commits) < 300 / 5  # outcomes are committed in batches
    assert events[-1].state == CampaignState.FINISHED and events[-1].counts.sent == 300
    assert events[-1].servers[0].server_uuid == settings.uuid
    gaps = [b - a for a, b in itertools.pairwise(moments[:-1])]
    assert all(gap >= 0.099 for gap in gaps)  # at most 10 a second (the final one is forced)
    content = server.messages[0].content
    assert b"Subject: Hello N" in content and b"multipart/alternative" in content
    assert Ledger(store).campaign(campaign).state == CampaignState.FINISHED


async def test_fault_injection_final_states_and_causes(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    faults = Faults(
        rcpt_replies={
            "gone@example.com": "550 5.1.1 No such user",
            "later@example.com": "451 4.2.0 Try later",
            "slow@example.com": "421 4.7.0 Too many messages",
        },
    )
    # (a connection dropped after the content: not sent again, the recipient is unknown and
    # the server backs off; see test_no_server.py and smtp/test_pipeline.py, issue 13)
    server = await smtpd_factory("plain", faults=faults)
    add_server(store, server, msg_retry_delay=0.0)
    emails = [*addresses(20), "gone@example.com", "later@example.com", "slow@example.com"]
    campaign = make_campaign(store, emails, concurrency=2)
    quick = {"backoff_start": 0.01}  # the 421 makes the server back off: briefly here

    assert await CampaignRunner(store, campaign, pool_options=quick).run() == CampaignState.FINISHED

    rows = by_email(store, campaign)
    gone, later, slow = (
        rows[e] for e in ("gone@example.com", "later@example.com", "slow@example.com")
    )
    assert (gone.state, gone.cause, gone.temporary) == ("failed", "recipient_refused", False)
    assert "550" in gone.error
    assert (later.state, later.temporary) == ("failed", True)
    assert later.cause == "temporary_failure"
    assert (slow.state, slow.cause, slow.temporary) == ("failed", "rate_limited", True)
    assert all(rows[e].state == RecipientState.SENT for e in addresses(20))
    assert sorted(received(server)) == sorted(addresses(20))

    # the temporary failures can be retried later, once the server accepts them
    faults.rcpt_replies.clear()
    assert Ledger(store).retry_failed(campaign) == 2
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert Ledger(store).counts(campaign) == Counts(sent=22, failed=1)
    assert Counter(received(server))["later@example.com"] == 1


async def test_suppressed_recipients_end_skipped(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(5))
    SuppressionList(store).suppress(["U3@example.com"], "unsubscribed")
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    row = by_email(store, campaign)["u3@example.com"]
    assert (row.state, row.cause) == ("skipped", "suppressed")
    assert "u3@example.com" not in received(server)
    assert Ledger(store).counts(campaign) == Counts(sent=4, skipped=1)


async def test_max_send_errors_pauses_with_the_reason(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(data_reply="554 5.7.1 Rejected as spam"))
    add_server(store, server)
    campaign = make_campaign(store, addresses(40), concurrency=1, max_send_errors=3)
    runner = CampaignRunner(store, campaign)
    assert await runner.run() == CampaignState.PAUSED
    stored = Ledger(store).campaign(campaign)
    assert "max_send_errors" in stored.pause_reason
    counts = Ledger(store).counts(campaign)
    assert counts.failed == 3 and counts.sending == 0 and counts.pending == 37
    progress = runner.progress()
    assert progress is not None and progress.errors[0].count == 3
    assert len(progress.errors[0].samples) == 3


async def test_pause_then_resume_sends_the_rest_once(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    emails = addresses(60)
    campaign = make_campaign(store, emails, message_rate=100, concurrency=3)
    runner: CampaignRunner

    def on_progress(progress: Progress) -> None:
        if progress.counts.sent >= 10:
            runner.pause()

    runner = CampaignRunner(store, campaign, on_progress=on_progress)
    assert await runner.run() == CampaignState.PAUSED
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and counts.pending > 0
    assert counts.sent == len(received(server)) < 60
    assert Ledger(store).campaign(campaign).pause_reason == "paused by the user"

    runner.on_progress = None
    assert await runner.run() == CampaignState.FINISHED
    assert sorted(received(server)) == sorted(emails)


async def test_cancel_stops_for_good(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(50), message_rate=50, concurrency=1)
    runner = CampaignRunner(store, campaign)
    task = asyncio.create_task(runner.run())
    await server.wait_until(lambda: len(server.messages) >= 3)
    runner.cancel()
    assert await task == CampaignState.CANCELLED
    sent = len(server.messages)
    assert await CampaignRunner(store, campaign).run() == CampaignState.CANCELLED
    assert len(server.messages) == sent < 50


async def test_scheduled_start_waits_for_send_at(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    send_at = time.time() + 0.6
    campaign = make_campaign(store, addresses(3), send_at=send_at)
    states: list[CampaignState] = []
    runner = CampaignRunner(store, campaign, on_progress=lambda p: states.append(p.state))
    assert await runner.run() == CampaignState.FINISHED
    assert states[0] == CampaignState.SCHEDULED
    sent_at = [r.sent_at for r in by_email(store, campaign).values()]
    assert all(t is not None and t >= send_at for t in sent_at)


async def test_pausing_a_scheduled_campaign(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(3), send_at=time.time() + 3600)
    runner = CampaignRunner(store, campaign)
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.2)
    assert runner.state == CampaignState.SCHEDULED
    runner.pause()
    assert await task == CampaignState.PAUSED
    assert server.messages == []


async def test_message_rate_is_never_exceeded(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    rate = 40.0
    campaign = make_campaign(store, addresses(25), message_rate=rate, concurrency=1)
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    times = sorted(r.sent_at or 0.0 for r in by_email(store, campaign).values())
    # with one worker, message i+k+1 finished after slot i+k, which is k/rate after slot i
    assert all(times[i + 11] - times[i] >= 10 / rate - 0.005 for i in range(len(times) - 11))


async def test_sliding_window(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(
        store,
        addresses(12),
        concurrency=1,
        sliding_window=True,
        sliding_window_rate=5,
        sliding_window_duration=0.5,
    )
    runner = CampaignRunner(store, campaign)
    assert await runner.run() == CampaignState.FINISHED, (runner.pause_reason, runner.progress())
    times = sorted(r.sent_at or 0.0 for r in by_email(store, campaign).values())
    assert all(times[i + 6] - times[i] >= 0.5 - 0.005 for i in range(len(times) - 6))


async def test_per_server_hourly_limit_in_the_pool(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    limited_server = await smtpd_factory("plain")
    other_server = await smtpd_factory("plain")
    add_server(store, limited_server, max_per_hour=5)
    add_server(store, other_server)
    first = make_campaign(store, addresses(30, "a"))
    assert await CampaignRunner(store, first).run() == CampaignState.FINISHED
    assert len(limited_server.messages) == 5 and len(other_server.messages) == 25
    # the count survives the campaign: a second one cannot use that server this hour
    second = make_campaign(store, addresses(10, "b"))
    assert await CampaignRunner(store, second).run() == CampaignState.FINISHED
    assert len(limited_server.messages) == 5 and len(other_server.messages) == 35


async def test_waits_when_every_server_is_at_its_limit(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server, max_per_day=3)
    campaign = make_campaign(store, addresses(6), concurrency=2)
    waiting: list[str] = []
    runner: CampaignRunner

    def on_progress(progress: Progress) -> None:
        if progress.waiting:
            waiting.append(progress.waiting)
            runner.pause("enough waiting")

    runner = CampaignRunner(store, campaign, on_progress=on_progress)
    assert await runner.run() == CampaignState.PAUSED
    assert len(server.messages) == 3
    assert "limit" in waiting[0]
    assert Ledger(store).counts(campaign) == Counts(pending=3, sent=3)


async def test_per_second_server_limit(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server, max_per_second=25)
    campaign = make_campaign(store, addresses(20), concurrency=1)
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    times = sorted(r.sent_at or 0.0 for r in by_email(store, campaign).values())
    assert all(times[i + 6] - times[i] >= 5 / 25 - 0.005 for i in range(len(times) - 6))


async def test_named_messenger_uses_only_its_server(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    pool_server = await smtpd_factory("plain")
    named_server = await smtpd_factory("plain")
    add_server(store, pool_server)
    add_server(store, named_server, name="bulk")
    campaign = make_campaign(store, addresses(8), messenger="bulk")
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert len(named_server.messages) == 8 and pool_server.messages == []


async def test_missing_template_field_is_refused_before_sending(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    content = CampaignContent(
        subject="For {{ name }}", from_address="a@example.com", text="Your code: {{ code }}"
    )
    campaign = make_campaign(store, addresses(4), content)
    with pytest.raises(TemplateError, match=r"\{\{ code \}\}.*not a column.*email, name"):
        await CampaignRunner(store, campaign).run()
    assert server.messages == []
    assert Ledger(store).counts(campaign) == Counts(pending=4)


async def test_an_empty_cell_renders_empty_and_takes_the_default(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    content = CampaignContent(
        subject="For [{{ name }}]",
        from_address="a@example.com",
        text="Dear {{ name | default('friend') }}",
    )
    ledger = Ledger(store)
    campaign = ledger.create_campaign("c", content, message_rate=1000)
    ledger.insert_recipients(
        campaign,
        [
            {"line": 2, "email": "full@example.com", "fields": {"name": "Ann"}},
            {"line": 3, "email": "empty@example.com", "fields": {}},  # the cell was empty
        ],
    )
    ledger.add_fields(campaign, ["name"])
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    bodies = {m.rcpt_tos[0]: m.content.decode() for m in server.messages}
    assert "Subject: For [Ann]" in bodies["full@example.com"]
    assert "Dear Ann" in bodies["full@example.com"]
    assert "Subject: For []" in bodies["empty@example.com"]
    assert "Dear friend" in bodies["empty@example.com"]


async def test_server_headers_and_return_path_apply_to_campaign_messages(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    headers = (("Return-Path", "bounces@example.com"), ("X-Server", "one"))
    add_server(store, server, email_headers=headers)
    campaign = make_campaign(store, addresses(3))

    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED

    assert {m.mail_from for m in server.messages} == {"bounces@example.com"}
    for message in server.messages:
        head = message.content.split(b"\r\n\r\n")[0]
        assert b"\r\nX-Server: one" in b"\r\n" + head
        assert b"Return-Path" not in head and b"From: News <news@example.com>" in head
