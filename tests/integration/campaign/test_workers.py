"""Worker processes at an unlimited rate: real processes, aiosmtpd on 127.0.0.1, real SQLite.

The campaign's parent keeps every decision and the ledger; the workers render and send.
Each test checks that the run really used worker processes (their pids), so none of
them passes by falling back to the single-process engine.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from smtpdesk.core import secrets
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger
from smtpdesk.core.campaign.progress import Progress
from smtpdesk.core.campaign.workers import worker_count
from smtpdesk.core.domain.dkim_setup import store_new_keys
from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import MAX_RATE, AuthProtocol, ServerSettings, parse_app_settings
from smtpdesk.core.store import Store
from tests.helpers.file_keyring import file_keyring  # noqa: F401 (a fixture)
from tests.helpers.smtpd import PASSWORD, USER, Faults, SmtpdFactory, SmtpdServer
from tests.integration.campaign.helpers import (
    CONTENT,
    add_server,
    addresses,
    by_email,
    make_campaign,
    received,
    start_send,
)
from tests.integration.service.test_secret_service_sender import (  # noqa: F401 (a fixture)
    secret_service,
)

UNLIMITED = {"message_rate": MAX_RATE}


def use_workers(store: Store, count: int) -> None:
    report = parse_app_settings({"worker_processes": count}, store.app_settings())
    assert report.settings is not None
    store.put_app_settings(report.settings)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too: its parent just has not reaped it
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split() if alive(int(p))]
    except FileNotFoundError:
        return []


def two_worker_campaign(
    store: Store, emails: list[str], content: CampaignContent = CONTENT, *, concurrency: int
) -> int:
    """A campaign at the unlimited rate, with the app set to two worker processes."""
    use_workers(store, 2)
    return make_campaign(store, emails, content, concurrency=concurrency, **UNLIMITED)


async def large_campaign(
    store: Store, smtpd_factory: SmtpdFactory, count: int
) -> tuple[SmtpdServer, list[str], int]:
    """A server taking 4 connections; ``count`` recipients for two workers at concurrency 16."""
    server = await smtpd_factory("plain")
    add_server(store, server, max_conns=4)
    emails = addresses(count)
    return server, emails, two_worker_campaign(store, emails, concurrency=16)


async def start_run(
    store: Store, campaign: int, server: SmtpdServer, messages: int
) -> tuple[CampaignRunner, asyncio.Task[CampaignState]]:
    """Start the run in this process and return once ``server`` has ``messages`` messages."""
    runner = CampaignRunner(store, campaign)
    task = asyncio.create_task(runner.run())
    await server.wait_until(lambda: len(server.messages) >= messages, limit=60)
    return runner, task


async def run_with_two_workers(store: Store, campaign: int) -> CampaignRunner:
    """Run the campaign to its end; check that two worker processes sent it."""
    runner = CampaignRunner(store, campaign)
    assert await runner.run() == CampaignState.FINISHED
    assert runner.workers is not None and len(runner.workers.workers) == 2
    return runner


async def worker_pids(
    server: SmtpdServer, process: asyncio.subprocess.Process, messages: int
) -> list[int]:
    """Once ``server`` has ``messages`` messages: the sending process's two worker processes."""
    await server.wait_until(lambda: len(server.messages) >= messages, limit=120)
    workers = children(process.pid)
    assert len(workers) == 2  # the run really sends from two worker processes
    return workers


async def password_server(
    smtpd_factory: SmtpdFactory, store: Store
) -> tuple[SmtpdServer, ServerSettings]:
    """A server that wants a login, its password in the keyring (whichever the test set)."""
    server = await smtpd_factory("plain", auth=("PLAIN",), auth_require_tls=False)
    settings = add_server(store, server, max_conns=4)
    secrets.set_password(settings.uuid, PASSWORD)
    return server, settings


def assert_each_once(server: SmtpdServer, emails: list[str]) -> None:
    assert Counter(received(server)) == dict.fromkeys(emails, 1)


def assert_nobody_lost(server: SmtpdServer, emails: list[str], in_flight: int) -> None:
    """Everyone received; only those in flight at a kill can have received it twice."""
    times = Counter(received(server))
    assert set(times) == set(emails)  # nobody lost
    twice = [e for e, n in times.items() if n > 1]
    print(f"in flight at the kill {in_flight}, sent twice {len(twice)}")
    assert len(twice) <= in_flight


async def test_workers_send_each_recipient_once_with_the_same_outcomes(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    replies = {
        "gone": "550 5.1.1 No such user",
        "later": "451 4.2.0 Try later",
        "grey": "451 4.7.1 Greylisted, please try again later",
    }
    refused = {f"{name}@example.com": reply for name, reply in replies.items()}
    server = await smtpd_factory("plain", faults=Faults(rcpt_replies=refused))
    settings = add_server(store, server, max_conns=4)
    good = addresses(400)
    campaign = two_worker_campaign(store, [*good, *refused], concurrency=16)
    events: list[Progress] = []
    runner = CampaignRunner(store, campaign, on_progress=events.append, greylist_delay=0.05)

    assert await runner.run() == CampaignState.FINISHED

    assert runner.workers is not None and len(runner.workers.workers) == 2
    peers = {m.peer for m in server.messages}
    assert 2 <= len(peers) <= 4 and server.stats.max_open <= 4  # the two workers' shares
    assert sorted(received(server)) == sorted(good)  # every one exactly once
    rows = by_email(store, campaign)
    assert Ledger(store).counts(campaign) == Counts(sent=400, failed=3)
    row = rows["u7@example.com"]
    assert row.server_uuid == settings.uuid and row.reply == "250 2.0.0 OK: queued"
    assert row.message_id and row.attempts == 1
    gone, later, grey = (rows[f"{n}@example.com"] for n in ("gone", "later", "grey"))
    assert (gone.cause, gone.temporary) == ("recipient_refused", False)
    assert (later.cause, later.temporary) == ("temporary_failure", True)
    assert (grey.cause, grey.attempts) == ("greylisted", 3)  # sent again twice, then failed
    final = events[-1]
    assert final.state == CampaignState.FINISHED and final.counts.sent == 400
    assert final.servers[0].server_uuid == settings.uuid
    assert final.servers[0].sent == 400 and final.servers[0].failed >= 3
    assert not any(alive(pid) for pid in runner.workers.pids)  # they exited at the end
    assert all(w.process.returncode == 0 for w in runner.workers.workers)


async def test_template_failures_in_the_workers_fail_the_recipient_or_pause(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server, max_conns=2)
    content = replace(CONTENT, html="<p>{{ 100 // name | length }}</p>")  # "" divides by 0
    campaign = two_worker_campaign(store, addresses(30), content, concurrency=4)
    Ledger(store).insert_recipients(
        campaign, [{"line": 99, "email": "bad@example.com", "fields": {"name": ""}}]
    )
    runner = CampaignRunner(store, campaign)
    assert await runner.run() == CampaignState.FINISHED
    assert runner.workers is not None
    bad = by_email(store, campaign)["bad@example.com"]
    assert (bad.state, bad.cause, bad.attempts) == ("failed", "template_error", 0)
    assert sorted(received(server)) == sorted(addresses(30))

    # every recipient fails: the run pauses after the first few, it is the template
    rows = [
        {"line": i + 2, "email": f"w{i}@example.com", "fields": {"name": ""}} for i in range(50)
    ]
    broken = make_campaign(store, [], content, concurrency=4, **UNLIMITED)
    Ledger(store).insert_recipients(broken, rows)
    assert await CampaignRunner(store, broken).run() == CampaignState.PAUSED
    stored = Ledger(store).campaign(broken)
    assert "the template fails for the first" in stored.pause_reason
    assert Ledger(store).counts(broken).pending > 0


async def test_kill_9_of_a_worker_loses_nobody(store: Store, smtpd_factory: SmtpdFactory) -> None:
    server, emails, campaign = await large_campaign(store, smtpd_factory, 3000)
    runner, task = await start_run(store, campaign, server, 300)
    assert runner.workers is not None
    victim = runner.workers.workers[0]
    in_flight = len(victim.pending)  # handed to it, no result yet: the possible duplicates
    os.kill(victim.pid, signal.SIGKILL)

    assert await task == CampaignState.FINISHED

    assert_nobody_lost(server, emails, in_flight)
    assert in_flight <= 16
    assert Ledger(store).counts(campaign) == Counts(sent=3000)
    assert runner.workers.deaths == 1 and len(runner.workers.workers) == 3  # one replacement
    assert not alive(victim.pid)


async def test_workers_that_keep_dying_pause_the_run_with_the_reason(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.01}))
    add_server(store, server, max_conns=2)
    emails = addresses(1000)
    campaign = two_worker_campaign(store, emails, concurrency=4)
    runner = CampaignRunner(store, campaign)
    task = asyncio.create_task(runner.run())
    killed: set[int] = set()
    while not task.done() and len(killed) < 3:
        await asyncio.sleep(0.05)
        pool = runner.workers
        for pid in pool.pids if pool is not None else []:
            if pid not in killed and len(killed) < 3:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
                break
    assert await task == CampaignState.PAUSED
    reason = Ledger(store).campaign(campaign).pause_reason
    assert "sending processes stopped unexpectedly 3 times" in reason
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and counts.pending > 0 and counts.failed == 0
    assert set(received(server)) == {
        r.email for r in by_email(store, campaign).values() if r.state == "sent"
    }

    server.faults.delays.clear()
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED  # resume
    assert set(received(server)) == set(emails)


async def test_pause_and_cancel_while_workers_send(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server, _, campaign = await large_campaign(store, smtpd_factory, 3000)
    runner, task = await start_run(store, campaign, server, 200)
    runner.pause()
    assert await task == CampaignState.PAUSED
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and 0 < counts.sent == len(received(server)) < 3000
    assert runner.workers is not None
    assert not any(alive(pid) for pid in runner.workers.pids)

    runner, task = await start_run(store, campaign, server, counts.sent + 200)
    runner.cancel()
    assert await task == CampaignState.CANCELLED
    after = Ledger(store).counts(campaign)
    assert after.sending == 0 and after.sent == len(received(server)) < 3000
    assert max(Counter(received(server)).values()) == 1


async def test_kill_9_of_the_parent_leaves_no_worker_and_resume_sends_the_rest(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path
) -> None:
    server, emails, campaign = await large_campaign(store, smtpd_factory, 4000)
    process = await start_send(data_dir, campaign)
    try:
        workers = await worker_pids(server, process, 500)
    finally:
        process.kill()
        await process.communicate()
    assert process.returncode == -9
    for _ in range(100):  # the kernel's PR_SET_PDEATHSIG, or their stdin's end
        if not any(alive(pid) for pid in workers):
            break
        await asyncio.sleep(0.05)
    assert not any(alive(pid) for pid in workers)

    counts = Ledger(store).counts(campaign)
    assert 0 < counts.sent < len(emails)
    in_flight = counts.sending
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert_nobody_lost(server, emails, in_flight)
    assert Ledger(store).counts(campaign).sent == len(emails)


async def test_ctrl_c_in_a_terminal_pauses_the_run_and_the_workers_leave_quietly(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path
) -> None:
    server, emails, campaign = await large_campaign(store, smtpd_factory, 4000)
    process = await start_send(data_dir, campaign, new_session=True)  # as a terminal's job
    try:
        workers = await worker_pids(server, process, 300)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the parent and its workers
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 1, stderr  # paused, not finished
    assert b"Traceback" not in stderr and b"KeyboardInterrupt" not in stderr
    assert not any(alive(pid) for pid in workers)
    stored = Ledger(store).campaign(campaign)
    assert (stored.state, stored.pause_reason) == (CampaignState.PAUSED, "interrupted")
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and counts.sent == len(received(server)) < len(emails)
    assert max(Counter(received(server)).values()) == 1  # no worker died: nothing twice


@pytest.mark.usefixtures("file_keyring")
async def test_each_worker_reads_the_password_from_the_keyring_itself(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server, _ = await password_server(smtpd_factory, store)  # the file keyring: workers read it
    emails = addresses(200)
    await run_with_two_workers(store, two_worker_campaign(store, emails, concurrency=8))
    assert_each_once(server, emails)
    assert {m.login for m in server.messages} == {USER}
    assert len({m.peer for m in server.messages}) >= 2  # logged in from both workers


@pytest.mark.secret_service
@pytest.mark.usefixtures("secret_service")
async def test_workers_read_the_password_from_the_real_secret_service(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server, settings = await password_server(smtpd_factory, store)  # gnome-keyring, D-Bus
    try:
        emails = addresses(100)
        await run_with_two_workers(store, two_worker_campaign(store, emails, concurrency=8))
        assert_each_once(server, emails)
        assert {m.login for m in server.messages} == {USER}
    finally:
        secrets.delete_password(settings.uuid)


@pytest.mark.usefixtures("file_keyring")
async def test_a_worker_that_cannot_start_pauses_the_run_with_its_reason(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(
        store,
        server,
        max_conns=2,
        dkim_enabled=True,
        dkim_domain="example.com",
        dkim_selector="s1",
    )  # and no DKIM key in the keyring: the workers' MessengerSender refuses to start
    campaign = two_worker_campaign(store, addresses(20), concurrency=4)
    runner = CampaignRunner(store, campaign)
    with pytest.raises(KnownError, match="DKIM signing is on"):
        await runner.run()
    stored = Ledger(store).campaign(campaign)
    assert stored.state == CampaignState.PAUSED
    assert "key is not in the keyring" in stored.pause_reason
    assert Ledger(store).counts(campaign) == Counts(pending=20)
    assert received(server) == []
    assert runner.workers is not None  # the workers said why, and are gone
    assert all(w.process.returncode is not None for w in runner.workers.workers)


@pytest.mark.usefixtures("file_keyring")
async def test_a_replacement_that_cannot_start_pauses_the_run(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.005}))
    settings = add_server(
        store, server, max_conns=2, dkim_enabled=True, dkim_domain="example.com", dkim_selector="s1"
    )
    store_new_keys(settings.uuid, str(settings.dkim_algorithm))
    campaign = two_worker_campaign(store, addresses(2000), concurrency=4)
    runner, task = await start_run(store, campaign, server, 50)
    secrets.delete_dkim_keys(settings.uuid)  # the next worker to start cannot sign
    assert runner.workers is not None
    os.kill(runner.workers.workers[0].pid, signal.SIGKILL)

    assert await asyncio.wait_for(task, 60) == CampaignState.PAUSED  # no hang, no loss
    reason = Ledger(store).campaign(campaign).pause_reason
    assert "could not start again" in reason and "DKIM signing is on" in reason
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and counts.failed == 0 and counts.pending > 0
    assert counts.sent == len(set(received(server)))


@pytest.mark.parametrize(
    ("change", "setting", "cpus", "expected"),
    [
        ({}, None, 2, 2),  # one per core
        ({}, None, 8, 3),  # at most the smallest server's connections
        ({}, None, 1, 0),  # one core: the parent alone
        ({}, 0, 4, 0),  # turned off
        ({}, 2, 4, 2),
        ({}, 2, 1, 2),  # asked for: even on one core
        ({"message_rate": 1000.0}, None, 4, 0),  # a rate: the token bucket stays in one place
        ({"sliding_window": True}, None, 4, 0),
        ({"max_per_hour": 100}, None, 4, 0),  # a quota: the gate stays in the parent
        ({"max_per_second": 10.0}, None, 4, 0),
        ({"auth_protocol": AuthProtocol.XOAUTH2}, None, 4, 0),  # one sign-in's tokens
    ],
)
def test_when_workers_are_used(
    change: dict[str, object], setting: int | None, cpus: int, expected: int
) -> None:
    rate = float(change.pop("message_rate", MAX_RATE))  # type: ignore[arg-type]
    window = bool(change.pop("sliding_window", False))
    servers = [
        replace(ServerSettings(host="a.test", max_conns=3), **change),  # type: ignore[arg-type]
        ServerSettings(host="b.test", max_conns=8),
    ]
    count = worker_count(
        setting,
        message_rate=rate,
        sliding_window=window,
        servers=servers,
        pool_options={},
        cpus=cpus,
    )
    assert count == expected


def test_the_worker_processes_setting_is_validated() -> None:
    assert parse_app_settings({"worker_processes": "auto"}).settings.worker_processes is None  # type: ignore[union-attr]
    assert parse_app_settings({"worker_processes": "0"}).settings.worker_processes == 0  # type: ignore[union-attr]
    for bad in ("-1", "65", "many"):
        report = parse_app_settings({"worker_processes": bad})
        assert report.settings is None
        assert [p.field for p in report.errors] == ["worker_processes"]
