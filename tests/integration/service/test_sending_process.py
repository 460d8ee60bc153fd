"""A campaign sent by ``campaign serve`` in a process of its own, followed over its channel."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core import secrets
from smtpdesk.core.campaign.actions import Action, Sender, campaign_status, cancel_campaign
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger
from smtpdesk.core.errors import KnownError
from smtpdesk.core.service.channel import channel_file
from smtpdesk.core.service.follower import (
    EndedEvent,
    ProgressEvent,
    ServiceEvent,
    follow,
    request,
    sender_channel,
    start_sender,
)
from smtpdesk.core.store import Store
from tests.helpers.file_keyring import FileKeyring
from tests.helpers.smtpd import PASSWORD, USER, SmtpdFactory, SmtpdServer, plain_settings
from tests.integration.campaign.helpers import (
    CONTENT,
    add_server,
    addresses,
    make_campaign,
    received,
)
from tests.integration.service.helpers import cli, start, wait_gone


async def test_serve_and_follow_end_to_end_with_the_password_from_the_keyring(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, file_keyring: FileKeyring
) -> None:
    server = await smtpd_factory("plain", auth=("PLAIN",), auth_require_tls=False)
    settings = add_server(store, server)
    secrets.set_password(settings.uuid, PASSWORD)  # into the file the child reads
    emails = addresses(200)
    campaign = make_campaign(store, emails, message_rate=100, concurrency=4)

    pid = await start(campaign)
    assert pid != os.getpid()
    follower = await follow(campaign)
    assert follower is not None and follower.pid == pid
    events = [event async for event in follower.events()]
    await follower.close()

    progress = [e.progress for e in events if isinstance(e, ProgressEvent)]
    assert progress and {p.campaign_id for p in progress} == {campaign}
    assert progress[-1].counts.sent > 0
    assert events[-1] == EndedEvent("finished", "", None)
    assert await wait_gone(pid) == 0
    assert Counter(received(server)) == dict.fromkeys(emails, 1)  # everyone, once
    assert {m.login for m in server.messages} == {USER}
    assert Ledger(store).counts(campaign) == Counts(sent=200)
    assert not channel_file(data_dir, campaign).exists()  # removed on exit
    assert await follow(campaign) is None  # nobody sends it now


async def _plain_campaign(
    store: Store, smtpd_factory: SmtpdFactory, count: int, rate: float, concurrency: int
) -> tuple[SmtpdServer, list[str], int]:
    """A plain server in the store, and a campaign of ``count`` recipients to send to it."""
    server = await smtpd_factory("plain")
    add_server(store, server)
    emails = addresses(count)
    return server, emails, make_campaign(store, emails, message_rate=rate, concurrency=concurrency)


async def _progress_until(events: object, sent: int) -> None:
    async for event in events:  # type: ignore[attr-defined]
        assert isinstance(event, ProgressEvent), event
        if event.progress.counts.sent >= sent:
            return
    raise AssertionError("the channel closed first")


async def _start_and_follow(campaign: int, sent: int) -> tuple[int, AsyncIterator[ServiceEvent]]:
    """Start the sending process, follow it until ``sent`` are sent: its pid, the other events."""
    pid = await start(campaign)
    follower = await follow(campaign)
    assert follower is not None
    events = follower.events()
    await _progress_until(events, sent)
    return pid, events


async def _assert_ends(
    events: AsyncIterator[ServiceEvent], pid: int, end: EndedEvent, code: int = 1
) -> None:
    """The channel's last event is ``end``; the sending process exits with ``code``."""
    rest = [event async for event in events]
    assert rest[-1] == end
    assert await wait_gone(pid) == code


async def _follow_in_a_process(campaign: int) -> asyncio.subprocess.Process:
    """``smtpdesk campaign follow`` in a process of its own, once it draws its progress bar."""
    watcher = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "smtpdesk", "campaign", "follow", str(campaign)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert watcher.stderr is not None
    drawn = await asyncio.wait_for(watcher.stderr.read(2), 30)
    assert drawn == b"\r["  # its progress bar: it follows
    return watcher


def _assert_nobody_twice(server: SmtpdServer) -> None:
    assert sorted(received(server)) == sorted(set(received(server)))


async def test_pause_and_cancel_from_another_process(
    store: Store, smtpd_factory: SmtpdFactory, file_keyring: FileKeyring
) -> None:
    server, _, campaign = await _plain_campaign(store, smtpd_factory, 300, 20, 2)

    pid, events = await _start_and_follow(campaign, 5)
    status = campaign_status(Ledger(store), campaign)  # what the GUI offers for it
    assert (status.sender, status.reachable) == (Sender.ELSEWHERE, True)
    assert status.allowed() == {Action.PAUSE, Action.CANCEL, Action.DUPLICATE}
    with pytest.raises(KnownError, match="cancelled by the process sending it"):
        cancel_campaign(Ledger(store), campaign)  # not behind the sender's back
    assert await cli("campaign", "pause", str(campaign)) == (
        0,
        "",
        f"campaign {campaign}: pausing (the messages in flight finish first)\n",
    )
    # the process exits 1, like 'campaign send' paused
    await _assert_ends(events, pid, EndedEvent("paused", "paused by the user", None))
    stored = Ledger(store).campaign(campaign)
    assert (stored.state, stored.pause_reason) == (CampaignState.PAUSED, "paused by the user")
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and 0 < counts.sent < 300

    status = campaign_status(Ledger(store), campaign)
    assert (status.sender, status.reachable) == (Sender.NONE, False)
    code, _, err = await cli("campaign", "pause", str(campaign))  # nobody sends it now
    assert (code, err) == (1, f"error: Campaign {campaign} is not being sent (it is paused).\n")

    pid, events = await _start_and_follow(campaign, counts.sent + 3)  # resumes it
    code, _, err = await cli("campaign", "cancel", str(campaign))
    assert code == 0, err
    await _assert_ends(events, pid, EndedEvent("cancelled", "cancelled by the user", None))
    assert Ledger(store).campaign(campaign).state == CampaignState.CANCELLED
    after = Ledger(store).counts(campaign)
    assert after.sending == 0 and counts.sent < after.sent < 300
    _assert_nobody_twice(server)


async def test_one_sender_per_campaign_across_processes(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, file_keyring: FileKeyring
) -> None:
    server, _, campaign = await _plain_campaign(store, smtpd_factory, 100, 20, 1)
    pid = await start(campaign)
    assert await start(campaign) == pid  # already sent through a channel: that process

    code, _, err = await cli("campaign", "serve", str(campaign))  # a second one, by hand
    assert code == 1
    assert f"Campaign {campaign} is being sent by another process ({pid})." in err
    info = sender_channel(campaign)
    assert info is not None and info.pid == pid  # its channel file was left alone
    watcher = await _follow_in_a_process(campaign)
    assert await request(campaign, "cancel")
    out, _ = await asyncio.wait_for(watcher.communicate(), 30)
    assert watcher.returncode == 1  # like 'campaign send' stopped
    assert out.decode() == f"campaign {campaign} cancelled: cancelled by the user\n"
    assert await wait_gone(pid) == 1
    _assert_nobody_twice(server)


async def test_sigterm_pauses_the_sending_process_cleanly(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, file_keyring: FileKeyring
) -> None:
    server, _, campaign = await _plain_campaign(store, smtpd_factory, 300, 30, 2)
    pid, events = await _start_and_follow(campaign, 3)
    os.kill(pid, signal.SIGTERM)
    await _assert_ends(events, pid, EndedEvent("paused", "interrupted", None))
    assert not channel_file(data_dir, campaign).exists()
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and counts.sent == len(received(server)) < 300


async def _intrude(port: int, payload: bytes) -> bytes:
    """Connect, send ``payload``, and read until the sender hangs up: what it said."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = b""
    try:
        writer.write(payload)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(10):  # cut off well before the campaign ends
                while chunk := await reader.read(65536):
                    data += chunk
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return data


async def test_wrong_token_junk_and_a_huge_line_are_cut_off_and_the_run_goes_on(
    store: Store, smtpd_factory: SmtpdFactory, file_keyring: FileKeyring
) -> None:
    server, emails, campaign = await _plain_campaign(store, smtpd_factory, 150, 40, 2)
    pid = await start(campaign)
    follower = await follow(campaign)
    info = sender_channel(campaign)
    assert follower is not None and info is not None

    wrong = json.dumps({"token": "0" * 64}).encode() + b"\n"
    assert await _intrude(info.port, wrong) == b""  # not a word of progress
    assert await _intrude(info.port, b"GET / HTTP/1.0\r\n\r\n") == b""
    assert await _intrude(info.port, b'{"token": 5}\n') == b""
    assert await _intrude(info.port, b'{"token": "' + b"a" * (2 << 20) + b'"}\n') == b""
    # The right token, then a command that is none: what it got, then the end.
    token = json.dumps({"token": info.token}).encode() + b"\n"
    said = await _intrude(info.port, token + b'{"op": "explode"}\n')
    assert all(json.loads(line)["event"] == "progress" for line in said.splitlines())

    await _assert_ends(follower.events(), pid, EndedEvent("finished", "", None), 0)
    assert Counter(received(server)) == dict.fromkeys(emails, 1)


async def test_kill_9_of_a_follower_leaves_the_campaign_sending(
    store: Store, smtpd_factory: SmtpdFactory, file_keyring: FileKeyring
) -> None:
    server, emails, campaign = await _plain_campaign(store, smtpd_factory, 300, 100, 4)
    pid = await start(campaign)
    watcher = await _follow_in_a_process(campaign)
    watcher.kill()
    await watcher.wait()
    assert watcher.returncode == -signal.SIGKILL

    assert await wait_gone(pid) == 0
    assert Counter(received(server)) == dict.fromkeys(emails, 1)
    assert Ledger(store).campaign(campaign).state == CampaignState.FINISHED
    assert Ledger(store).counts(campaign) == Counts(sent=300)


async def test_kill_9_of_the_sending_process_then_start_again_sends_the_rest(
    store: Store,
    smtpd_factory: SmtpdFactory,
    data_dir: Path,
    file_keyring: FileKeyring,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = 3000
    server, emails, campaign = await _plain_campaign(store, smtpd_factory, total, 1000, 8)
    pid = await start(campaign)
    await server.wait_until(lambda: len(server.messages) >= 400, limit=60)
    os.kill(pid, signal.SIGKILL)
    assert await wait_gone(pid) == -signal.SIGKILL
    assert channel_file(data_dir, campaign).exists()  # stale: nobody removed it

    assert main(["campaign", "status", str(campaign), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "interrupted"
    counts = Ledger(store).counts(campaign)
    assert 0 < counts.sent < total and counts.pending > 0
    in_flight = counts.sending
    assert await follow(campaign) is None  # the file names a dead pid: removed

    again = await start(campaign)
    assert again != pid
    assert await wait_gone(again) == 0
    times = Counter(received(server))
    assert set(times) == set(emails)  # everyone at least once
    twice = [email for email, n in times.items() if n > 1]
    assert len(twice) <= in_flight and max(times.values()) <= 2
    assert Ledger(store).counts(campaign) == Counts(sent=total)  # nothing pending or sending


@pytest.mark.parametrize(
    ("servers", "content", "message"),
    [
        (False, CONTENT, "There is no enabled SMTP server to send with."),
        (True, dataclasses.replace(CONTENT, subject="Hi {{ nick }}"), "nick"),
    ],
    ids=["no-server", "template-field"],
)
async def test_start_sender_raises_the_reason_the_run_cannot_start(
    store: Store,
    smtpd_factory: SmtpdFactory,
    data_dir: Path,
    file_keyring: FileKeyring,
    servers: bool,
    content: CampaignContent,
    message: str,
) -> None:
    if servers:
        add_server(store, await smtpd_factory("plain"))
    campaign = make_campaign(store, addresses(3), content)
    with pytest.raises(KnownError) as raised:
        await start(campaign)
    assert message in raised.value.message
    assert "Traceback" not in str(raised.value)
    assert not channel_file(data_dir, campaign).exists()
    assert Ledger(store).counts(campaign) == Counts(pending=3)


def test_start_sender_reports_the_child_s_error_line_when_it_ends_before_listening(
    data_dir: Path, store: Store
) -> None:
    with pytest.raises(KnownError) as raised:
        start_sender(424242)  # no such campaign: the child exits 2 before any channel
    assert raised.value.message.startswith("There is no campaign 424242.")


def test_bad_ids_exit_2_and_nobody_sending_exits_1(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("serve", "follow", "pause", "cancel"):
        assert main(["campaign", command, "0"]) == 2, command
        assert "There is no campaign 0." in capsys.readouterr().err
    campaign = make_campaign(store, addresses(2))
    assert main(["campaign", "follow", str(campaign)]) == 1
    assert f"Campaign {campaign} is not being sent (it is draft)." in capsys.readouterr().err
    Ledger(store).set_state(campaign, CampaignState.PAUSED, "paused by the user")
    assert main(["campaign", "cancel", str(campaign)]) == 0  # nobody sends it: cancelled here
    assert Ledger(store).campaign(campaign).state == CampaignState.CANCELLED


def test_serve_exits_like_send_3_when_no_server_can_send_then_0_when_finished(
    store: Store,
    refused_port: int,
    threaded_smtpd: Callable[..., SmtpdServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = plain_settings(refused_port)
    store.put_server(settings)
    campaign = make_campaign(store, addresses(5))
    assert main(["campaign", "serve", str(campaign)]) == 3
    assert capsys.readouterr() == ("", "")  # nothing but errors, and this is none
    assert Ledger(store).counts(campaign) == Counts(pending=5)

    server = threaded_smtpd("plain")
    store.put_server(dataclasses.replace(settings, port=server.port))
    assert main(["campaign", "serve", str(campaign)]) == 0
    assert Ledger(store).counts(campaign) == Counts(sent=5)
    assert sorted(received(server)) == addresses(5)


async def test_the_sending_process_logs_to_a_file_of_its_own(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, file_keyring: FileKeyring
) -> None:
    """The app and every sender writing (and rotating) one smtpdesk.log would clobber each
    other's lines: a sending process writes senders/ID.log, owner-only."""
    server, emails, campaign = await _plain_campaign(store, smtpd_factory, 20, 1000, 2)
    code, _, _ = await cli("-v", "campaign", "serve", str(campaign))
    assert code == 0
    assert sorted(received(server)) == sorted(emails)
    log = data_dir / "senders" / f"{campaign}.log"
    assert log.stat().st_mode & 0o777 == 0o600
    # -v: the run's event loop says which selector it uses, after the log has moved
    assert "DEBUG asyncio" in log.read_text(encoding="utf-8")
    shared = data_dir / "smtpdesk.log"
    assert not shared.exists() or "DEBUG asyncio" not in shared.read_text("utf-8")
