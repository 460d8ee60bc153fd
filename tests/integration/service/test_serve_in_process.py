"""``serve`` on this test's loop (no child process): quick checks of the channel's rules."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger
from smtpdesk.core.campaign.progress import ErrorGroup, Progress
from smtpdesk.core.service import channel as channel_module
from smtpdesk.core.service import sender as sender_module
from smtpdesk.core.service.channel import channel_file, read_channel
from smtpdesk.core.service.follower import EndedEvent, ProgressEvent, follow, request
from smtpdesk.core.service.sender import serve
from smtpdesk.core.store import Store
from tests.helpers.smtpd import SmtpdFactory
from tests.integration.campaign.helpers import add_server, addresses, make_campaign, received


async def _channel_port(data_dir: Path, campaign: int) -> int:
    async with asyncio.timeout(10):
        while (info := read_channel(channel_file(data_dir, campaign))) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return info.port


async def test_a_silent_connection_is_cut_off_and_a_follower_pauses_the_run(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "AUTH_SECONDS", 0.3)
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(200), message_rate=40, concurrency=2)
    sigterm = signal.getsignal(signal.SIGTERM)
    serving = asyncio.create_task(serve(store, campaign))
    port = await _channel_port(data_dir, campaign)

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # never sent a token: cut off
    assert time.monotonic() - started < 3
    writer.close()

    follower = await follow(campaign)
    assert follower is not None
    events = follower.events()
    async for event in events:
        assert isinstance(event, ProgressEvent)
        if event.progress.counts.sent >= 3:
            break
    await follower.pause("paused from a test")
    rest = [event async for event in events]
    assert rest[-1] == EndedEvent("paused", "paused from a test", None)
    state, runner = await serving
    assert state == CampaignState.PAUSED and runner.pause_reason == "paused from a test"
    assert not channel_file(data_dir, campaign).exists()
    assert await request(campaign, "pause") is False  # nobody sends it any more
    assert signal.getsignal(signal.SIGTERM) is sigterm  # put back as it was
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and counts.sent == len(received(server)) < 200
    assert max(Counter(received(server)).values()) == 1


async def test_a_follower_that_comes_after_the_end_is_told_the_end(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(5))
    ended, release = threading.Event(), threading.Event()
    remove = channel_module.remove_channel

    def held_remove(path: Path, pid: int) -> None:
        ended.set()  # the run has ended and told so; the file is still there, the listener open
        release.wait(10)
        remove(path, pid)

    monkeypatch.setattr(sender_module, "remove_channel", held_remove)
    serving = asyncio.create_task(serve(store, campaign))
    await _channel_port(data_dir, campaign)
    assert await asyncio.to_thread(ended.wait, 10)
    try:
        follower = await follow(campaign)
        assert follower is not None
        assert [e async for e in follower.events()] == [EndedEvent("finished", "", None)]
    finally:
        release.set()
    assert (await serving)[0] == CampaignState.FINISHED
    assert len(server.messages) == 5


async def test_a_run_blocked_by_its_servers_ends_with_the_diagnosis(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, refused_port: int
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server, port=refused_port)  # nothing listens there
    campaign = make_campaign(store, addresses(20))
    serving = asyncio.create_task(serve(store, campaign))
    port = await _channel_port(data_dir, campaign)
    silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)  # no token yet
    follower = await follow(campaign)
    assert follower is not None
    events = [event async for event in follower.events()]
    ended = time.monotonic()
    state, runner = await serving
    assert time.monotonic() - ended < 1.5  # the silent connection is closed, not waited for
    assert await asyncio.wait_for(silent_reader.read(), 1) == b""
    silent.close()
    assert state == CampaignState.PAUSED and runner.blocked is not None
    end = events[-1]
    assert isinstance(end, EndedEvent) and end.state == "paused"
    assert end.blocked == runner.blocked  # the whole diagnosis, across the wire
    assert end.blocked.cause == "connection_refused"
    assert end.reason == runner.pause_reason and f"127.0.0.1:{refused_port}" in end.reason


def test_figures_too_large_for_the_channel_never_stop_the_run(store: Store) -> None:
    campaign = make_campaign(store, addresses(1))
    hub = sender_module._Hub(CampaignRunner(store, campaign), "t" * 64)
    huge = ErrorGroup("unknown", "Unexpected error", "x" * (2 << 20), (), False, 1, ())
    hub.progress(Progress(campaign, CampaignState.RUNNING, Counts(), 0.0, 0.0, None, (), (huge,)))
    assert hub.latest is None  # not sent, and no exception into the engine
    hub.progress(Progress(campaign, CampaignState.RUNNING, Counts(pending=1), 0.0, 0.0, None))
    assert hub.latest is not None
    hub.end({"event": "failed", "message": "y" * (2 << 20), "hint": "h"})
    assert hub.final is not None and len(hub.final) < 20_000
    assert json.loads(hub.final) == {"event": "failed", "message": "y" * 10_000, "hint": "h"}
