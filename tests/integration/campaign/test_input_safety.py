"""Data from a recipients file never becomes a header, a command or a hang (real server, ledger)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Ledger, RecipientState
from smtpdesk.core.store import Store, open_store
from tests.helpers.smtpd import SmtpdFactory, SmtpdServer, settings_for
from tests.integration.campaign.helpers import add_server, by_email, received, start_send

NESTED = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"


def campaign_with(
    store: Store, content: CampaignContent, rows: list[dict[str, str]], **settings: Any
) -> int:
    ledger = Ledger(store)
    settings.setdefault("message_rate", 1000)
    campaign = ledger.create_campaign("safety", content, **settings)
    ledger.insert_recipients(
        campaign,
        [{"line": i + 2, "email": r.pop("email"), "fields": r} for i, r in enumerate(rows)],
    )
    return campaign


def test_cli_injected_cell_adds_no_bcc_and_no_recipient(
    data_dir: Path,
    tmp_path: Path,
    threaded_smtpd: Callable[..., SmtpdServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = threaded_smtpd("plain")
    store = open_store(data_dir)
    store.put_server(settings_for(server))
    store.close()
    people = tmp_path / "people.csv"
    long_cell = "x\r\nBcc: evil@example.com" + "y" * 100  # raised HeaderParseError before
    people.write_bytes(
        (
            "email,name\r\n"
            'ann@example.com,"x\r\nBcc: evil@example.com"\r\n'
            f'bob@example.com,"{long_cell}"\r\n'
            'cid@example.com,"x\r\n\r\n<b>a body of my own</b>"\r\n'
        ).encode()
    )
    text = tmp_path / "body.txt"
    text.write_text("Hello {{ name }}", encoding="utf-8")
    argv = ["campaign", "create", "--name", "Inject", "--recipients", str(people)]
    argv += ["--subject", "Hi {{ name }}", "--from", "news@example.com"]
    argv += ["--text-file", str(text), "--unsubscribe-url", "https://x.test/u?n={{ name }}"]
    assert main(argv) == 0
    campaign = int(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["campaign", "send", str(campaign), "--no-progress"]) == 0
    assert "finished; sent 3" in capsys.readouterr().out

    assert sorted(m.rcpt_tos[0] for m in server.messages) == [
        "ann@example.com",
        "bob@example.com",
        "cid@example.com",
    ]
    for received_message in server.messages:
        assert len(received_message.rcpt_tos) == 1
        message = email.message_from_bytes(received_message.content, policy=email.policy.default)
        names = [name.lower() for name in message]
        assert "bcc" not in names
        assert names.count("list-unsubscribe") == 1
        assert message.get_content_type() == "text/plain"
        assert "%0D%0A" in str(message["List-Unsubscribe"])
        assert "\n" not in str(message["Subject"])


async def test_an_unsafe_address_fails_that_recipient_only(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    content = CampaignContent(subject="Hi", from_address="news@example.com", text="t")
    rows = [
        {"email": "ann@example.com"},
        {"email": "bad@example.com\r\nBcc: evil@example.com"},  # slipped past the import
        {"email": "bob@example.com"},
    ]
    campaign = campaign_with(store, content, rows, concurrency=1)
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    rows_by_email = by_email(store, campaign)
    bad = rows_by_email["bad@example.com\r\nBcc: evil@example.com"]
    assert (bad.state, bad.cause) == (RecipientState.FAILED, "unsafe_header")
    assert "line break" in bad.error
    assert sorted(received(server)) == ["ann@example.com", "bob@example.com"]


async def test_a_template_failing_for_one_recipient_fails_only_that_one(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    content = CampaignContent(
        subject="Hi", from_address="news@example.com", text="{{ 100 // (n | int) }}"
    )
    rows = [{"email": f"u{i}@example.com", "n": str(i % 4)} for i in range(1, 9)]
    campaign = campaign_with(store, content, rows, concurrency=2)
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    failed = {e: r for e, r in by_email(store, campaign).items() if r.state == "failed"}
    assert sorted(failed) == ["u4@example.com", "u8@example.com"]
    assert {r.cause for r in failed.values()} == {"template_error"}
    assert all("ZeroDivisionError" in r.error for r in failed.values())
    assert len(received(server)) == 6


async def test_a_runaway_template_pauses_the_campaign_quickly(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    content = CampaignContent(subject="Hi", from_address="news@example.com", text=NESTED)
    campaign = campaign_with(
        store, content, [{"email": f"u{i}@example.com"} for i in range(20)], concurrency=2
    )
    runner = CampaignRunner(store, campaign)
    started = time.monotonic()
    assert await runner.run() == CampaignState.PAUSED
    assert time.monotonic() - started < 8
    stored = Ledger(store).campaign(campaign)
    assert "template fails for the first 3 recipients" in stored.pause_reason
    assert "took longer than" in stored.pause_reason
    counts = Ledger(store).counts(campaign)
    assert 3 <= counts.failed <= 4 and counts.sending == 0
    assert counts.pending == 20 - counts.failed
    failed = [r for r in by_email(store, campaign).values() if r.state == "failed"]
    assert {r.cause for r in failed} == {"template_error"}
    assert server.messages == []


async def test_sigterm_stops_a_send_busy_with_a_runaway_template(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path
) -> None:
    """Rendering used to run on the event loop: the process ignored SIGTERM for hours."""
    server = await smtpd_factory("plain")
    add_server(store, server)
    # The first recipient renders (so it is not systematic); every other one runs away.
    text = "{% if name == 'ok' %}fine{% else %}" + NESTED + "{% endif %}"
    content = CampaignContent(subject="Hi", from_address="news@example.com", text=text)
    rows = [{"email": "ok@example.com", "name": "ok"}]
    rows += [{"email": f"u{i}@example.com", "name": "x"} for i in range(30)]
    campaign = campaign_with(store, content, rows, concurrency=1)
    process = await start_send(data_dir, campaign)
    try:
        await server.wait_until(lambda: len(server.messages) == 1, limit=30)
        await asyncio.sleep(1.5)  # now inside the runaway renders
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        out, err = await asyncio.wait_for(process.communicate(), 6)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert time.monotonic() - stopped < 4, "SIGTERM was not answered within 4 s"
    assert process.returncode == 1, err.decode()
    assert b"paused: interrupted" in out
    counts = Ledger(store).counts(campaign)
    assert counts.sent == 1 and counts.sending == 0 and counts.pending > 20
