"""The GUI follows campaigns that send in processes of their own (issue 13, section 3).

Every campaign the GUI starts runs in ``smtpdesk campaign serve ID`` (a real child process,
with the test's file keyring); the window follows it over its channel. These tests check
that it is really another process, that Pause reaches it, that "Keep sending" lets it finish
without any window, that a new window attaches to it, and that a kill -9 of the process
playing the GUI loses and repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.service.channel import channel_file, read_channel
from smtpdesk.core.service.follower import start_sender
from smtpdesk.core.store import Store
from smtpdesk.ui.live_panel import LivePanel
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from tests.helpers.smtpd import Faults, SmtpdFactory, SmtpdServer
from tests.ui.conftest import until
from tests.ui.test_campaign_flow import _add_server
from tests.ui.test_lifecycle import _buttons, _campaign, _panel, running_app


def _addresses(count: int) -> list[str]:
    return [f"u{i}@example.com" for i in range(count)]


def _received(sink: SmtpdServer) -> Counter[str]:
    return Counter(r for m in sink.messages for r in m.rcpt_tos)


def _sender_pid(store: Store, campaign: int) -> int | None:
    info = read_channel(channel_file(store.folder, campaign))
    return info.pid if info is not None else None


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # a child of this process: reap it
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _slow_campaign(
    store: Store, smtpd_factory: SmtpdFactory, count: int, delay: float, concurrency: int = 1
) -> tuple[SmtpdServer, int]:
    """A server that takes ``delay`` s per message, and a campaign of ``count`` to it."""
    sink = await smtpd_factory("plain", faults=Faults(delays={"DATA": delay}))
    _add_server(store, sink)
    return sink, _campaign(store, count, concurrency=concurrency)


@asynccontextmanager
async def _app_sending(
    store: Store, campaign: int, prompts: ScriptedPrompts | None = None
) -> AsyncIterator[tuple[MainWindow, LivePanel]]:
    """The app with ``campaign``'s live panel open and sending (as its Send button does)."""
    async with running_app(store, prompts or ScriptedPrompts()) as window:
        window.open_live_panel(campaign, autorun=True)
        yield window, _panel(window, campaign)


async def _sending_pid(store: Store, sink: SmtpdServer, campaign: int, messages: int) -> int:
    """Once ``sink`` has ``messages`` messages: the pid of the process sending ``campaign``."""
    await until(lambda: len(sink.messages) >= messages, what="some messages")
    pid = _sender_pid(store, campaign)
    assert pid is not None
    return pid


async def _pause_in_the_panel(qtbot: Any, panel: LivePanel, pid: int) -> None:
    """Click Pause; the panel shows the pause and the sending process ``pid`` ends."""
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.control.state == "paused", what="the pause")
    await until(lambda: not _alive(pid), what="the sending process to end")


def _assert_paused_by_the_user(store: Store, campaign: int) -> None:
    stored = Ledger(store).campaign(campaign)
    assert (stored.state, stored.pause_reason) == (CampaignState.PAUSED, "paused by the user")


async def _assert_it_finishes_everyone_once(
    store: Store, sink: SmtpdServer, campaign: int, pid: int, count: int
) -> None:
    """The sending process ``pid`` goes on to the end: every recipient exactly once."""
    await until(lambda: not _alive(pid), limit=60, what="the sending process to finish")
    assert Ledger(store).campaign(campaign).state == CampaignState.FINISHED
    assert _received(sink) == Counter(_addresses(count))  # every recipient exactly once


def _quit(window: MainWindow, prompts: ScriptedPrompts, answer: str) -> str:
    """Quit with ``answer`` to the question it asks; the question."""
    prompts.answers = [answer]
    window.quit_action.trigger()
    return prompts.asked[-1]


class Recorder:
    """Stands in for the desktop notifier: what would have been shown."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []

    def notify(self, title: str, text: str) -> None:
        self.shown.append((title, text))

    def close(self) -> None:
        pass


async def test_a_campaign_sends_in_its_own_process_and_pause_in_the_panel_reaches_it(
    qtbot: Any, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink, campaign = await _slow_campaign(store, smtpd_factory, 40, 0.05)
    async with _app_sending(store, campaign) as (_window, panel):
        await until(lambda: _sender_pid(store, campaign) is not None, what="the sending process")
        pid = _sender_pid(store, campaign)
        assert pid is not None and pid != os.getpid()
        await until(
            lambda: panel.counters["sent"].text() not in ("–", "0"), what="progress in the panel"
        )
        assert Ledger(store).campaign(campaign).runner_pid == pid  # the child holds the lease
        assert panel.pause_button.isEnabled() and panel.cancel_button.isEnabled()
        await _pause_in_the_panel(qtbot, panel, pid)
        assert not channel_file(store.folder, campaign).exists()
        _assert_paused_by_the_user(store, campaign)
        sent = Ledger(store).counts(campaign).sent
        assert 0 < sent < 40
        assert len(sink.messages) == sent  # nothing goes out after the pause
        assert _buttons(panel) == {"pause": False, "resume": True, "cancel": True, "retry": False}


async def test_cancel_in_the_panel_reaches_the_sending_process(
    qtbot: Any, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink, campaign = await _slow_campaign(store, smtpd_factory, 40, 0.05)
    prompts = ScriptedPrompts()
    async with _app_sending(store, campaign, prompts) as (_window, panel):
        pid = await _sending_pid(store, sink, campaign, 2)
        prompts.answers = [True]
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        assert "will never get this message" in prompts.asked[-1]
        await until(lambda: panel.control.state == "cancelled", what="the cancel")
        await until(lambda: not _alive(pid), what="the sending process to end")
        assert _buttons(panel) == {"pause": False, "resume": False, "cancel": False, "retry": False}
    stored = Ledger(store).campaign(campaign)
    assert stored.state == CampaignState.CANCELLED
    counts = Ledger(store).counts(campaign)
    assert counts.sent == len(sink.messages) < 40  # nothing went out after the cancel
    assert counts.sending == 0


async def test_keep_sending_finishes_the_campaign_without_any_window(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink, campaign = await _slow_campaign(store, smtpd_factory, 30, 0.1)
    prompts = ScriptedPrompts()
    async with _app_sending(store, campaign, prompts) as (window, panel):
        recorder = Recorder()
        window.desktop = recorder  # type: ignore[assignment]
        pid = await _sending_pid(store, sink, campaign, 2)
        question = _quit(window, prompts, "keep")
        assert prompts.defaults[-1] == "keep"  # the default button
        assert "Keep sending" in question and "own process" in question
        assert f"smtpdesk campaign pause {campaign}" in question
        await until(lambda: not window.isVisible(), what="the window to close")
        [(title, text)] = recorder.shown
        assert title == "Spring news keeps sending"
        assert "press Pause" in text and f"smtpdesk campaign pause {campaign}" in text
        # What the app does at its end (ui/app.py run_app): nothing is paused, and the
        # bridge's tasks, following the campaign among them, are cancelled.
        await window.pause_campaigns()
        assert panel.control.running
        window.bridge.shutdown()
        await until(lambda: not panel.control.running, what="the window to stop following")
    # The window and its bridge are gone; the campaign goes on in its own process.
    assert _alive(pid)
    assert Ledger(store).campaign(campaign).state == CampaignState.RUNNING
    await _assert_it_finishes_everyone_once(store, sink, campaign, pid, 30)


async def test_the_quit_prompt_warns_when_the_sandbox_would_stop_under_a_campaign(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink, campaign = await _slow_campaign(store, smtpd_factory, 30, 0.1)
    prompts = ScriptedPrompts()
    async with _app_sending(store, campaign, prompts) as (window, panel):
        await until(lambda: len(sink.messages) >= 1, what="some messages")
        assert "sandbox" not in _quit(window, prompts, "stay")
        # As if the app's own capture server were listening (in this process). (Starting
        # the real one is tests/ui/test_sandbox_first_run.py's; here only the words count.)
        window.sandbox.server = object()  # type: ignore[assignment]
        assert "The sandbox server stops with smtpdesk" in _quit(window, prompts, "stay")
        assert window.isVisible()
        window.sandbox.server = None
        panel.control.pause()
        await until(lambda: not panel.control.running, what="the pause")


async def test_a_new_window_attaches_to_a_campaign_still_sending(
    qtbot: Any, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink, campaign = await _slow_campaign(store, smtpd_factory, 200, 0.1)
    # As after "Keep sending": a sending process that no window started.
    pid = await asyncio.to_thread(start_sender, campaign)
    await until(lambda: len(sink.messages) >= 2, what="some messages")
    async with running_app(store, ScriptedPrompts(), settle=False) as window:
        await until(lambda: f"live-{campaign}" in window.windows, what="the panel to open")
        panel = _panel(window, campaign)
        await until(lambda: panel.control.running, what="the panel to follow it")
        assert panel.control.attached
        assert campaign not in window.resume_bar.resume_buttons  # nothing to resume here
        seen: list[int] = []
        panel.control.progress.connect(lambda p: seen.append(p.counts.sent))
        await until(lambda: len(set(seen)) >= 3, what="live progress")
        assert seen == sorted(seen)
        assert int(panel.counters["sent"].text()) >= seen[0]
        assert "running" in panel.state_label.text()
        assert _buttons(panel) == {"pause": True, "resume": False, "cancel": True, "retry": False}
        await _pause_in_the_panel(qtbot, panel, pid)
        assert panel.resume_button.isEnabled()
    _assert_paused_by_the_user(store, campaign)
    assert _received(sink) == Counter(_addresses(200)[: len(sink.messages)])


async def test_a_killed_sending_process_shows_interrupted_and_resume_sends_the_rest(
    qtbot: Any, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink, campaign = await _slow_campaign(store, smtpd_factory, 40, 0.05)
    async with _app_sending(store, campaign) as (_window, panel):
        pid = await _sending_pid(store, sink, campaign, 3)
        os.kill(pid, signal.SIGKILL)
        # The channel closes without an end: the panel reads the ledger again.
        await until(lambda: not panel.control.running, what="the panel to notice")
        await until(lambda: panel.control.state == "interrupted", what="the interrupted state")
        assert "interrupted" in panel.state_label.text()
        assert _buttons(panel) == {"pause": False, "resume": True, "cancel": True, "retry": False}
        in_flight = Ledger(store).counts(campaign).sending  # claimed, outcome not recorded
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
        await until(lambda: panel.control.state == "finished", limit=60, what="the campaign")
    received = _received(sink)
    assert set(received) == set(_addresses(40))  # nothing lost
    assert sum(received.values()) - 40 <= in_flight  # only those can have gone out twice
    assert Ledger(store).counts(campaign).sent == 40


# The process that plays the GUI: a QApplication, the qasync loop, the bridge and the
# CampaignControl the live panel uses; it prints "following" once progress arrives.
GUI_STAND_IN = textwrap.dedent(
    """
    import asyncio, sys
    import qasync
    from PySide6.QtWidgets import QApplication
    from smtpdesk.core.store import open_store
    from smtpdesk.ui.bridge import Bridge
    from smtpdesk.ui.campaign_control import CampaignControl

    app = QApplication(["gui-stand-in"])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    control = CampaignControl(Bridge(open_store(None)), int(sys.argv[1]))
    control.progress.connect(lambda p: print("following", p.counts.sent, flush=True))
    control.run()
    with loop:
        loop.run_forever()
    """
)


async def test_kill_9_of_the_gui_loses_and_repeats_nothing(
    store: Store, smtpd_factory: SmtpdFactory, tmp_path: Path
) -> None:
    sink, campaign = await _slow_campaign(store, smtpd_factory, 40, 0.03, concurrency=2)
    out = tmp_path / "gui.out"
    with out.open("wb") as stdout:
        gui = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-c", GUI_STAND_IN, str(campaign)],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
    try:
        await until(
            lambda: "following" in out.read_text() or gui.poll() is not None,
            limit=30,
            what="the stand-in GUI to follow the campaign",
        )
        assert gui.poll() is None, out.read_text()
        assert len(sink.messages) < 40
        gui.send_signal(signal.SIGKILL)
        gui.wait()
    finally:
        if gui.poll() is None:
            gui.kill()
            gui.wait()
    pid = _sender_pid(store, campaign)
    assert pid is not None and pid != gui.pid
    await _assert_it_finishes_everyone_once(store, sink, campaign, pid, 40)
