"""Campaign actions decided from the stored state, on a real SQLite ledger."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from smtpdesk.core.campaign import actions
from smtpdesk.core.campaign.actions import INTERRUPTED, Action, Sender, allowed_actions
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import (
    LEASE_SECONDS,
    CampaignState,
    Ledger,
    Outcome,
    RecipientState,
)
from smtpdesk.core.errors import KnownError
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import campaigns, recipients
from tests.integration.campaign.helpers import CONTENT, addresses, make_campaign


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _mark(store: Store, campaign: int, **values: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(campaigns).where(campaigns.c.id == campaign).values(**values))


def test_final_states_offer_no_cancel_and_no_resume() -> None:
    for state in (CampaignState.FINISHED, CampaignState.CANCELLED):
        allowed = allowed_actions(state, failed=0)
        assert Action.CANCEL not in allowed and Action.START not in allowed
        assert allowed == {Action.DUPLICATE, Action.DELETE}
    assert Action.RETRY_FAILED in allowed_actions(CampaignState.FINISHED, failed=2)
    assert Action.RETRY_FAILED not in allowed_actions(CampaignState.CANCELLED, failed=2)


def test_paused_offers_resume_and_cancel_retry_only_with_failures() -> None:
    assert allowed_actions(CampaignState.PAUSED) == {Action.START, Action.CANCEL, Action.DUPLICATE}
    assert Action.RETRY_FAILED in allowed_actions(CampaignState.PAUSED, failed=1)
    assert allowed_actions(CampaignState.PAUSED, sender=Sender.HERE) == {
        Action.PAUSE,
        Action.CANCEL,
        Action.DUPLICATE,
    }
    assert allowed_actions(CampaignState.RUNNING, sender=Sender.ELSEWHERE) == {Action.DUPLICATE}
    assert Action.EDIT in allowed_actions(CampaignState.SCHEDULED)
    assert Action.EDIT not in allowed_actions(CampaignState.PAUSED)
    assert Action.EDIT in allowed_actions(CampaignState.PAUSED, untouched=True)  # nothing sent
    assert Action.EDIT in allowed_actions(INTERRUPTED, untouched=True)


def test_a_run_whose_process_died_is_interrupted_and_resumable(store: Store) -> None:
    campaign = make_campaign(store, addresses(3))
    ledger = Ledger(store)
    ledger.set_state(campaign, CampaignState.RUNNING)
    _mark(store, campaign, runner_pid=_dead_pid())
    status = actions.campaign_status(ledger, campaign)
    assert status.state == INTERRUPTED and status.sender == Sender.NONE
    assert Action.START in status.allowed()
    assert [s.id for s in actions.unfinished(ledger)] == [campaign]

    _mark(store, campaign, runner_pid=None)
    assert actions.campaign_status(ledger, campaign).state == INTERRUPTED


def test_a_run_of_a_live_process_is_running_here_or_elsewhere(store: Store) -> None:
    campaign = make_campaign(store, addresses(3))
    ledger = Ledger(store)
    ledger.set_state(campaign, CampaignState.RUNNING)
    ledger.claim_runner(campaign, 1)  # pid 1 is always alive
    status = actions.campaign_status(ledger, campaign)
    assert (status.state, status.sender) == ("running", Sender.ELSEWHERE)
    assert actions.unfinished(ledger) == []
    with pytest.raises(KnownError, match="another process"):
        actions.cancel_campaign(ledger, campaign)


def test_cancel_refuses_a_finished_campaign_and_keeps_its_history(store: Store) -> None:
    campaign = make_campaign(store, addresses(2))
    ledger = Ledger(store)
    ledger.set_state(campaign, CampaignState.FINISHED)
    with pytest.raises(KnownError, match="finished and cannot be cancelled"):
        actions.cancel_campaign(ledger, campaign)
    assert ledger.campaign(campaign).state == CampaignState.FINISHED

    ledger.set_state(campaign, CampaignState.PAUSED, "by hand")
    actions.cancel_campaign(ledger, campaign)
    assert ledger.campaign(campaign).state == CampaignState.CANCELLED


def test_cancel_consequence_names_the_recipients_left(store: Store) -> None:
    campaign = make_campaign(store, addresses(5))
    ledger = Ledger(store)
    first = ledger.recipients(campaign, limit=1)[0]
    ledger.apply([Outcome(first.id, RecipientState.SENT, attempts=1)])
    text = actions.cancel_consequence(ledger.counts(campaign))
    assert "4 recipients not sent yet will never get" in text
    assert "1 already sent" in text


def test_delete_only_drafts_and_final_campaigns(store: Store) -> None:
    ledger = Ledger(store)
    paused = make_campaign(store, addresses(2))
    ledger.set_state(paused, CampaignState.PAUSED)
    with pytest.raises(KnownError, match="cannot be deleted"):
        actions.delete_campaign(ledger, paused)
    draft = make_campaign(store, addresses(2))
    actions.delete_campaign(ledger, draft)
    assert [c.id for c in ledger.list_campaigns()] == [paused]
    assert ledger.recipient_count(draft) == 0  # its ledger goes with it


def test_duplicate_copies_content_settings_and_recipients_as_pending(store: Store) -> None:
    ledger = Ledger(store)
    campaign = make_campaign(store, addresses(7), message_rate=33, concurrency=3)
    ledger.add_fields(campaign, ["name"])
    ledger.update_campaign(campaign, send_at=4_000_000_000.0)
    sent = ledger.recipients(campaign, limit=2)
    ledger.apply([Outcome(r.id, RecipientState.SENT, attempts=1) for r in sent])
    ledger.set_state(campaign, CampaignState.FINISHED)

    copy = actions.duplicate_campaign(ledger, campaign)
    duplicate = ledger.campaign(copy.campaign_id)
    assert duplicate.name == "test (copy)" and duplicate.state == CampaignState.DRAFT
    assert duplicate.content == CONTENT
    assert (duplicate.message_rate, duplicate.concurrency) == (33, 3)
    assert duplicate.send_at is None
    assert duplicate.fields == ("name",)
    assert copy.recipients == 7 and ledger.counts(copy.campaign_id).pending == 7
    first = ledger.recipients(copy.campaign_id, limit=1)[0]
    assert (first.email, first.fields, first.line) == ("u0@example.com", {"name": "N0"}, 2)
    assert ledger.field_presence(copy.campaign_id) == (7, {"name": 7})


def test_duplicate_with_a_new_recipients_file(store: Store, tmp_path: Path) -> None:
    ledger = Ledger(store)
    campaign = make_campaign(store, addresses(4))
    people = tmp_path / "people.csv"
    people.write_text("email,name\nnew@example.com,New\nbad,X\n", encoding="utf-8")
    copy = actions.duplicate_campaign(ledger, campaign, name="Again", recipients_file=people)
    assert ledger.campaign(copy.campaign_id).name == "Again"
    assert copy.recipients == 1 and copy.report.invalid == 1
    assert [r.email for r in ledger.recipients(copy.campaign_id)] == ["new@example.com"]


def test_duplicate_with_an_unreadable_file_leaves_no_half_copy(store: Store) -> None:
    ledger = Ledger(store)
    campaign = make_campaign(store, addresses(1))
    with pytest.raises(KnownError):
        actions.duplicate_campaign(ledger, campaign, recipients_file="/nonexistent/people.csv")
    assert [c.id for c in ledger.list_campaigns()] == [campaign]


def test_edit_changes_a_draft_and_refuses_a_paused_one(store: Store) -> None:
    ledger = Ledger(store)
    campaign = make_campaign(store, addresses(1))
    edited = actions.edit_campaign(
        ledger,
        campaign,
        name="Renamed",
        content={"subject": "New subject"},
        message_rate=5,
        send_at=4_000_000_000.0,
    )
    assert edited.name == "Renamed" and edited.content.subject == "New subject"
    assert edited.content.html == CONTENT.html and edited.message_rate == 5
    assert edited.send_at == 4_000_000_000.0
    assert actions.edit_campaign(ledger, campaign, send_at=None).send_at is None
    with pytest.raises(KnownError, match="From address"):
        actions.edit_campaign(ledger, campaign, content={"from_address": ""})
    ledger.set_state(campaign, CampaignState.PAUSED)
    first = ledger.recipients(campaign, limit=1)[0]
    ledger.apply([Outcome(first.id, RecipientState.SENT, attempts=1)])  # it has begun
    with pytest.raises(KnownError, match="cannot be edited"):
        actions.edit_campaign(ledger, campaign, name="x")


def test_retry_failed_reopens_a_finished_campaign_as_paused(store: Store) -> None:
    ledger = Ledger(store)
    campaign = make_campaign(store, addresses(2))
    with pytest.raises(KnownError, match="no failed recipients"):
        ledger.set_state(campaign, CampaignState.FINISHED)
        actions.retry_failed(ledger, campaign)
    first = ledger.recipients(campaign, limit=1)[0]
    ledger.apply([Outcome(first.id, RecipientState.FAILED, attempts=1, error="550")])
    assert actions.retry_failed(ledger, campaign) == 1
    assert ledger.campaign(campaign).state == CampaignState.PAUSED


def test_a_lapsed_lease_is_interrupted_even_if_the_pid_lives(store: Store) -> None:
    campaign = make_campaign(store, addresses(1))
    ledger = Ledger(store)
    ledger.set_state(campaign, CampaignState.RUNNING)
    ledger.claim_runner(campaign, os.getpid())
    status = actions.campaign_status(ledger, campaign)
    assert (status.state, status.sender) == ("running", Sender.HERE)
    assert status.allowed() == {Action.PAUSE, Action.CANCEL, Action.DUPLICATE}
    _mark(store, campaign, runner_heartbeat=time.time() - LEASE_SECONDS - 1)
    status = actions.campaign_status(ledger, campaign)
    assert (status.state, status.sender) == (INTERRUPTED, Sender.NONE)
    assert Action.START in status.allowed()


def test_retry_can_include_the_unknown_recipients(store: Store) -> None:
    """Sent without a final reply: offered again only when asked, as they may arrive twice."""
    ledger = Ledger(store)
    campaign = make_campaign(store, addresses(3))
    with store.engine.connect() as conn:
        ids = conn.execute(select(recipients.c.id).order_by(recipients.c.id)).scalars().all()
    ledger.apply([Outcome(ids[0], RecipientState.UNKNOWN, attempts=1, cause="connection_dropped")])
    ledger.apply([Outcome(ids[1], RecipientState.SENT, attempts=1)])
    ledger.apply([Outcome(ids[2], RecipientState.SENT, attempts=1)])
    ledger.set_state(campaign, CampaignState.FINISHED)
    assert Action.RETRY_FAILED in actions.campaign_status(ledger, campaign).allowed()
    assert actions.retry_failed(ledger, campaign) == 0  # nothing failed: unknown stay
    assert actions.retry_failed(ledger, campaign, include_unknown=True) == 1
    assert ledger.counts(campaign).pending == 1
    assert ledger.campaign(campaign).state == CampaignState.PAUSED


async def test_a_scheduled_campaign_paused_before_it_sent_anything_can_be_edited(
    store: Store,
) -> None:
    """Quitting the app pauses a campaign waiting for its time; nothing went out, so it can
    still be edited like the scheduled campaign it was (and then started again)."""
    ledger = Ledger(store)
    campaign = make_campaign(store, addresses(2), send_at=time.time() + 3600)
    waiting = asyncio.Event()
    runner = CampaignRunner(
        store, campaign, on_progress=lambda p: p.state == CampaignState.SCHEDULED and waiting.set()
    )
    run = asyncio.create_task(runner.run())
    await asyncio.wait_for(waiting.wait(), 10)
    runner.pause("paused when smtpdesk was closed")
    assert await run == CampaignState.PAUSED

    status = actions.campaign_status(ledger, campaign)
    assert status.state == CampaignState.PAUSED
    assert {Action.EDIT, Action.START, Action.CANCEL} <= status.allowed()
    edited = actions.edit_campaign(ledger, campaign, content={"subject": "Changed"})
    assert edited.content.subject == "Changed" and edited.state == CampaignState.PAUSED

    first = ledger.recipients(campaign, limit=1)[0]
    ledger.apply([Outcome(first.id, RecipientState.SENT, attempts=1)])  # one went out
    assert Action.EDIT not in actions.campaign_status(ledger, campaign).allowed()
    with pytest.raises(KnownError, match="cannot be edited"):
        actions.edit_campaign(ledger, campaign, name="x")
