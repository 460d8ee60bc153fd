"""A campaign whose servers cannot take any message pauses with the cause; it never
"finishes" with everyone failed. Only what a server refused is ``failed``; a message
sent without a final reply is ``unknown``."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger, RecipientState
from smtpdesk.core.settings import TlsType
from smtpdesk.core.store import Store
from tests.helpers.smtpd import Faults, SmtpdFactory, SmtpdServer, plain_settings, settings_for
from tests.integration.campaign.helpers import add_server, addresses, by_email, make_campaign

QUICK = {"command_timeout": 0.5, "backoff_start": 0.05}


def nothing_at(store: Store, server: SmtpdServer, port: int) -> None:
    """A server entry pointing at ``port`` on 127.0.0.1, where nothing listens."""
    store.put_server(dataclasses.replace(settings_for(server), port=port))


async def test_nothing_listening_pauses_with_the_cause_then_resume_sends_everyone(
    store: Store, smtpd_factory: SmtpdFactory, refused_port: int
) -> None:
    later = await smtpd_factory("plain")
    settings = dataclasses.replace(settings_for(later), port=refused_port)
    store.put_server(settings)
    emails = addresses(500)
    campaign = make_campaign(store, emails, concurrency=10)
    runner = CampaignRunner(store, campaign)

    started = time.monotonic()
    assert await runner.run() == CampaignState.PAUSED
    assert time.monotonic() - started < 10  # not ~10 s of "no server available" per message

    assert runner.blocked is not None and runner.blocked.cause == "connection_refused"
    stored = Ledger(store).campaign(campaign)
    assert f"127.0.0.1:{refused_port} refused the connection" in stored.pause_reason
    assert Ledger(store).counts(campaign) == Counts(pending=500)  # nobody "failed"

    # The server is fixed (here: its port corrected); resume picks everyone up.
    store.put_server(dataclasses.replace(settings, port=later.port))
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert Ledger(store).counts(campaign) == Counts(sent=500)
    assert sorted(r for m in later.messages for r in m.rcpt_tos) == sorted(emails)


async def test_a_stalling_server_pauses_with_time_out(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"greeting": 30}))
    add_server(store, server)
    campaign = make_campaign(store, addresses(50), concurrency=4)
    runner = CampaignRunner(store, campaign, pool_options=QUICK)
    assert await runner.run() == CampaignState.PAUSED
    assert runner.blocked is not None and runner.blocked.cause == "timeout"
    reason = Ledger(store).campaign(campaign).pause_reason
    assert f"{server.host}:{server.port} timed out" in reason
    assert Ledger(store).counts(campaign) == Counts(pending=50)


@pytest.mark.parametrize(
    ("mode", "tls", "cause"),
    [
        ("plain", TlsType.TLS, "tls_mismatch"),  # implicit TLS against a plain-text port
        ("tls", TlsType.STARTTLS, "timeout"),  # STARTTLS against an implicit-TLS port
        ("tls", TlsType.TLS, "certificate_invalid"),  # a CA this computer does not trust
    ],
)
async def test_wrong_tls_settings_pause_with_the_cause(
    store: Store, smtpd_factory: SmtpdFactory, mode: str, tls: TlsType, cause: str
) -> None:
    server = await smtpd_factory(mode)
    add_server(store, server, tls_type=tls)
    campaign = make_campaign(store, addresses(30), concurrency=3)
    runner = CampaignRunner(store, campaign, pool_options=QUICK)
    assert await runner.run() == CampaignState.PAUSED
    assert runner.blocked is not None and runner.blocked.cause == cause
    assert Ledger(store).counts(campaign) == Counts(pending=30)
    assert not server.messages


async def test_every_data_dropped_pauses_and_the_messages_in_flight_are_unknown(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(drop_in_data=10**6))
    add_server(store, server, msg_retry_delay=0.0)
    emails = addresses(40)
    campaign = make_campaign(store, emails, concurrency=2)
    runner = CampaignRunner(store, campaign, pool_options=QUICK)
    assert await runner.run() == CampaignState.PAUSED
    assert runner.blocked is not None and runner.blocked.cause == "connection_dropped"

    counts = Ledger(store).counts(campaign)
    assert counts.failed == 0 and counts.sent == 0 and counts.sending == 0
    assert 1 <= counts.unknown <= 2  # those whose content went out; the rest never left
    assert counts.pending == 40 - counts.unknown
    unknown = Ledger(store).recipients(campaign, RecipientState.UNKNOWN)
    assert all(r.cause == "connection_dropped" for r in unknown)
    assert all("never confirmed" in r.error for r in unknown)

    # not sent again by default: they may have arrived
    assert Ledger(store).retry_failed(campaign) == 0
    server.faults.drop_in_data = 0
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert Ledger(store).counts(campaign) == Counts(
        sent=40 - counts.unknown, unknown=counts.unknown
    )
    assert Ledger(store).retry_failed(campaign, include_unknown=True) == counts.unknown
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert Ledger(store).counts(campaign) == Counts(sent=40)


async def test_one_failing_server_of_two_does_not_pause(
    store: Store, smtpd_factory: SmtpdFactory, refused_port: int
) -> None:
    good = await smtpd_factory("plain")
    add_server(store, good)
    nothing_at(store, good, refused_port)
    campaign = make_campaign(store, addresses(60), concurrency=4)
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert Ledger(store).counts(campaign) == Counts(sent=60)
    assert len(good.messages) == 60


async def test_only_refused_recipients_fail_when_the_server_then_goes_away(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory(
        "plain", faults=Faults(rcpt_replies={"u0@example.com": "550 5.1.1 No such user"})
    )
    add_server(store, server)
    campaign = make_campaign(store, addresses(200), concurrency=1, message_rate=50)
    runner = CampaignRunner(store, campaign, pool_options=QUICK)
    task = asyncio.create_task(runner.run())
    await server.wait_until(lambda: len(server.messages) >= 20)
    await server.stop()
    assert await task == CampaignState.PAUSED
    rows = by_email(store, campaign)
    assert rows["u0@example.com"].state == RecipientState.FAILED
    counts = Ledger(store).counts(campaign)
    assert counts.failed == 1 and counts.pending > 100
    assert counts.sent == len(server.messages)


def test_cli_send_exits_3_with_the_cause_and_resume_too(
    store: Store, refused_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put_server(plain_settings(refused_port))
    campaign = make_campaign(store, addresses(100))
    assert main(["campaign", "send", str(campaign), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert f"paused: no server can send: 127.0.0.1:{refused_port} refused the connection" in out
    assert "pending 100" in out and "failed 0" in out
    assert main(["campaign", "resume", str(campaign), "--no-progress"]) == 3


def test_cli_unknown_in_status_export_and_retry_only_when_asked(
    store: Store,
    threaded_smtpd: Callable[..., SmtpdServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = threaded_smtpd("plain", faults=Faults(drop_in_data=10**6))
    add_server(store, server, msg_retry_delay=0.0)
    campaign = make_campaign(store, addresses(10), concurrency=1)
    assert main(["campaign", "send", str(campaign), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "received the whole message but never confirmed it" in out
    assert "unknown 1" in out and "retried on another connection" not in out

    assert main(["campaign", "status", str(campaign), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["state"], data["unknown"], data["pending"], data["failed"]) == (
        "paused",
        1,
        9,
        0,
    )
    report = tmp_path / "report.csv"
    assert main(["campaign", "export", str(campaign), str(report)]) == 0
    with report.open(encoding="utf-8") as handle:
        states = [row["state"] for row in csv.DictReader(handle)]
    assert states.count("unknown") == 1

    server.faults.drop_in_data = 0
    assert main(["campaign", "resume", str(campaign), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["campaign", "retry-failed", str(campaign), "--all"]) == 0
    assert capsys.readouterr().out.startswith("0 recipients")  # unknown: not without asking
    assert main(["campaign", "retry-failed", str(campaign), "--include-unknown"]) == 0
    assert capsys.readouterr().out.startswith("1 recipients")
    assert main(["campaign", "resume", str(campaign), "--no-progress"]) == 0
    assert "finished; sent 10, failed 0" in capsys.readouterr().out


async def test_a_refused_login_pauses_rather_than_failing_everyone(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", auth=("PLAIN",), auth_require_tls=False)
    add_server(store, server)  # no password in the keyring: the login is refused
    campaign = make_campaign(store, addresses(25), concurrency=3)
    runner = CampaignRunner(store, campaign, pool_options=QUICK)
    assert await runner.run() == CampaignState.PAUSED
    assert runner.blocked is not None and runner.blocked.cause == "auth_failed"
    assert "refused the username or password" in Ledger(store).campaign(campaign).pause_reason
    assert Ledger(store).counts(campaign) == Counts(pending=25)
