"""The runner's heartbeat lease: ``status`` tells a live run from one killed with SIGKILL,
on every platform (the lease), and at once where a process can be probed (POSIX)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from smtpdesk.cli import main
from smtpdesk.core.campaign import engine as engine_module
from smtpdesk.core.campaign import ledger as ledger_module
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import LEASE_SECONDS, CampaignState, Ledger, lease_alive
from smtpdesk.core.errors import KnownError
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import campaigns
from tests.helpers.smtpd import SmtpdFactory
from tests.integration.campaign.helpers import (
    CONTENT,
    add_server,
    addresses,
    make_campaign,
    start_send,
)


def status(campaign: int, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["campaign", "status", str(campaign), "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def listed_state(campaign: int, capsys: pytest.CaptureFixture[str]) -> str:
    """The state column of ``campaign list`` for ``campaign``."""
    assert main(["campaign", "list"]) == 0
    for line in capsys.readouterr().out.splitlines():
        fields = line.split("\t")
        if fields[0] == str(campaign):
            return fields[1]
    raise AssertionError(f"campaign {campaign} not listed")


async def test_status_says_interrupted_after_kill_9_and_resume_finishes(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(400), message_rate=40, concurrency=2)
    process = await start_send(data_dir, campaign, asyncio.subprocess.DEVNULL)
    try:
        await server.wait_until(lambda: len(server.messages) >= 10, limit=60)
        running = await asyncio.to_thread(status, campaign, capsys)
    finally:
        process.kill()  # SIGKILL: nothing is cleaned up, the lease is left as it was
        await process.wait()
    assert running["state"] == "running"

    gone = await asyncio.to_thread(status, campaign, capsys)
    assert gone["state"] == "interrupted"
    assert await asyncio.to_thread(listed_state, campaign, capsys) == "interrupted"
    assert f"smtpdesk campaign resume {campaign}" in str(gone["pause_reason"])
    assert Ledger(store).campaign(campaign).state == CampaignState.RUNNING  # as stored

    Ledger(store).update_campaign(campaign, message_rate=1000)  # the rest, quickly
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert (await asyncio.to_thread(status, campaign, capsys))["state"] == "finished"


def stale_lease(store: Store, campaign: int, pid: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign)
            .values(
                state="running",
                runner_pid=pid,
                runner_heartbeat=time.time() - LEASE_SECONDS - 1,
            )
        )


def test_a_stale_lease_is_gone_even_if_its_pid_lives(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pid can be reused, or belong to another machine sharing the folder: the lease decides."""
    ledger = Ledger(store)
    campaign = ledger.create_campaign("c", CONTENT)
    stale_lease(store, campaign, os.getppid())  # a live process that is not us
    assert status(campaign, capsys)["state"] == "interrupted"
    assert listed_state(campaign, capsys) == "interrupted"  # the list agrees with status
    ledger.claim_runner(campaign, os.getpid())  # taken over, not refused
    assert ledger.campaign(campaign).runner_pid == os.getpid()


def test_a_fresh_lease_of_another_live_process_is_respected(store: Store) -> None:
    ledger = Ledger(store)
    campaign = ledger.create_campaign("c", CONTENT)
    ledger.claim_runner(campaign, os.getppid())
    assert ledger.runner_active(campaign)
    with pytest.raises(KnownError, match="another process"):
        ledger.claim_runner(campaign, os.getpid())


def test_where_a_process_cannot_be_probed_only_the_lease_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Windows ``os.kill(pid, 0)`` would send CTRL_C_EVENT: it must never be called."""

    def no_kill(pid: int, sig: int) -> None:
        raise AssertionError("os.kill called")

    monkeypatch.setattr(ledger_module.os, "name", "nt")
    monkeypatch.setattr(ledger_module.os, "kill", no_kill)
    now = time.time()
    dead = 2**22 + 12345  # beyond the usual pid range: no such process
    assert lease_alive(dead, now - 1, now)  # cannot tell: trust the fresh lease
    assert not lease_alive(dead, now - LEASE_SECONDS - 1, now)
    assert not lease_alive(None, None, now)


async def test_the_runner_renews_its_lease_while_it_runs(
    store: Store, smtpd_factory: SmtpdFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "HEARTBEAT_SECONDS", 0.05)
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(30), message_rate=60, concurrency=1)
    ledger = Ledger(store)
    task = asyncio.create_task(CampaignRunner(store, campaign).run())
    await server.wait_until(lambda: len(server.messages) >= 2)
    first = ledger.campaign(campaign).runner_heartbeat
    await server.wait_until(lambda: len(server.messages) >= 15)
    later = ledger.campaign(campaign).runner_heartbeat
    assert first is not None and later is not None and later > first
    assert await task == CampaignState.FINISHED
    done = ledger.campaign(campaign)
    assert (done.runner_pid, done.runner_heartbeat) == (None, None)
