"""A ledger that cannot be written stops the campaign with the reason, losing no outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from smtpdesk.core import logs
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger, Outcome
from smtpdesk.core.store import Store
from tests.helpers.smtpd import SmtpdFactory
from tests.integration.campaign.helpers import add_server, addresses, make_campaign, received


def _disk_full() -> OperationalError:
    return OperationalError("UPDATE recipients", {}, Exception("database or disk is full"))


async def test_a_failed_commit_pauses_with_the_reason_and_keeps_the_outcomes(
    store: Store, smtpd_factory: SmtpdFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    emails = addresses(400)
    campaign = make_campaign(store, emails, concurrency=4, message_rate=200)
    apply = Ledger.apply
    calls: list[int] = []

    def apply_failing_once(self: Ledger, outcomes: Sequence[Outcome]) -> None:
        calls.append(len(outcomes))
        if len(calls) == 1:
            raise _disk_full()
        apply(self, outcomes)

    monkeypatch.setattr(Ledger, "apply", apply_failing_once)
    runner = CampaignRunner(store, campaign)

    assert await runner.run() == CampaignState.PAUSED

    assert "saving progress to the database failed" in runner.pause_reason
    assert "disk is full" in runner.pause_reason
    # In words, with the space to free, never SQLAlchemy's text (issue 9).
    assert "The disk is full:" in runner.pause_reason and "Free at least" in runner.pause_reason
    assert "UPDATE" not in runner.pause_reason and "sqlalche" not in runner.pause_reason
    assert Ledger(store).campaign(campaign).pause_reason == runner.pause_reason
    counts = Ledger(store).counts(campaign)
    # Every message the server accepted is recorded as sent, none left "sending".
    assert counts.sent == len(received(server)) and counts.sending == 0
    assert counts.pending == len(emails) - counts.sent

    monkeypatch.setattr(Ledger, "apply", apply)
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert Counter(received(server)) == Counter(emails)  # each once
    assert Ledger(store).counts(campaign) == Counts(sent=len(emails))


async def test_a_ledger_that_stays_broken_raises_after_closing_the_connections(
    store: Store, smtpd_factory: SmtpdFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(50), concurrency=2, message_rate=200)

    def apply_failing(self: Ledger, outcomes: Sequence[Outcome]) -> None:
        raise _disk_full()

    monkeypatch.setattr(Ledger, "apply", apply_failing)

    with pytest.raises(OperationalError, match="disk is full"):
        await CampaignRunner(store, campaign).run()

    assert server.stats.opened > 0
    await server.wait_until(lambda: server.stats.open == 0 and server.stats.quits > 0)
    assert Ledger(store).campaign(campaign).runner_pid is None


class _BrokenSender:
    """A sender with a bug: every send raises something that is not a SendError."""

    async def send(self, message: object, **_: object) -> None:
        raise RuntimeError("a bug in the sender")

    def stats(self) -> list[object]:
        return []

    async def close(self) -> None:
        pass


async def test_an_unexpected_error_leaves_the_campaign_paused_not_running(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    emails = addresses(20)
    campaign = make_campaign(store, emails, concurrency=2, message_rate=1000)
    runner = CampaignRunner(store, campaign, sender=_BrokenSender(), servers=[])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="a bug in the sender"):
        await runner.run()
    stored = Ledger(store).campaign(campaign)
    assert stored.state == CampaignState.PAUSED
    assert "unexpected error: a bug in the sender" in stored.pause_reason
    assert "stopped by an unexpected error" in caplog.text
    counts = Ledger(store).counts(campaign)
    assert counts.sent == 0 and counts.pending + counts.sending == len(emails)  # none lost


class _QuotingSender(_BrokenSender):
    """A bug whose message quotes a secret (an access token the process handed out)."""

    async def send(self, message: object, **_: object) -> None:
        raise RuntimeError(f"a bug quoting Bearer {SECRET}")


SECRET = "ya29.unit-test-access-token-0123456789"


async def test_an_unexpected_error_never_stores_a_secret_in_the_pause_reason(
    store: Store,
) -> None:
    logs.remember_secret(SECRET, "alice@example.test")
    campaign = make_campaign(store, addresses(3), concurrency=1, message_rate=1000)
    runner = CampaignRunner(store, campaign, sender=_QuotingSender(), servers=[])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        await runner.run()
    stored = Ledger(store).campaign(campaign).pause_reason
    assert "a bug quoting Bearer ***" in stored and SECRET not in stored
    assert SECRET not in runner.pause_reason
