"""Fixtures for the GUI tests: async tests run on a qasync loop over the test's QApplication.

Every GUI test is ``async def``: the widgets' tasks then always run with the qasync
loop running, as in the app. Waiting is by condition (``until``), never by time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import keyring
import pytest
import qasync
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from smtpdesk.core.store import Store
from smtpdesk.ui.app import build_main_window, create_application
from smtpdesk.ui.gc_guard import GuiThreadCollector
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from tests.helpers.blocking_calls import BlockingCallWatch, frames, trail

# The offscreen platform warns on every top-level window; it is not about our code.
OFFSCREEN_NOISE = "This plugin does not support"
SMTPDESK_FOLDER = str(Path(__file__).resolve().parents[2] / "smtpdesk")
UI_FOLDER = str(Path(SMTPDESK_FOLDER) / "ui")


def _qasync_loop() -> asyncio.AbstractEventLoop:
    app = QApplication.instance() or create_application(["smtpdesk-tests"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # a test closing its window must not stop the loop
    return qasync.QEventLoop(app)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"qasync": _qasync_loop}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in item.nodeid:  # pytest-qt reads only the closest mark: keep a module's
            own = [arg for mark in item.iter_markers("qt_log_ignore") for arg in mark.args]
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, *own))


async def until(
    predicate: Callable[[], Any],
    limit: float = 20.0,
    what: str = "",
    describe: Callable[[], str] = str,
) -> None:
    """Wait until ``predicate()`` is true; fail with ``what`` if it never becomes so."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}{describe()}")
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp: Any) -> Iterator[None]:
    """Collect garbage only on the GUI thread, as the app does (smtpdesk/ui/gc_guard.py).

    After pytest-qt's ``qapp``: the collector's QTimer needs the application's event
    dispatcher. In a test that asks for no qtbot, run first in its process (``-k``, an
    xdist worker), there was none yet: "QObject::startTimer: current thread's event
    dispatcher has already been destroyed", a Qt warning that failed the test."""
    collector = GuiThreadCollector()
    collector.start()
    yield
    collector.stop()


# Code in smtpdesk/ui allowed to call SQLite or the keyring on the GUI thread, as
# (file name, function), each with the reason it must stay synchronous (e.g. start-up
# before the loop runs). Empty: every such call of the widgets goes through the bridge.
ALLOWED_ON_GUI_THREAD: set[tuple[str, str]] = set()


def _where(frame: FrameType) -> tuple[str, str]:
    return Path(frame.f_code.co_filename).name, frame.f_code.co_name


def _gui_violation() -> str | None:
    """Where in smtpdesk/ui a call on the GUI thread comes from; None if it is allowed.
    (Campaigns send in processes of their own: tests/integration/campaign/
    test_loop_blocking.py watches the engine's loop there.)"""
    if threading.current_thread() is not threading.main_thread():
        return None
    ui = [f for f in frames() if UI_FOLDER in f.f_code.co_filename]
    if not ui:  # the test's own set-up, on the main thread: not the app's code
        return None
    if any(_where(f) in ALLOWED_ON_GUI_THREAD for f in ui):
        return None
    return trail(ui)


@pytest.fixture
def shared_keyring(
    memory_keyring: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The test-only file keyring (tests/helpers/file_keyring.py) for this process and the
    sending processes it starts, so a password the GUI saves reaches them.

    Imported here, after the in-memory keyring has set keyring up: keyring tries every
    backend class it knows when it first looks for one, and this one cannot be made
    without its file."""
    from tests.helpers.file_keyring import FileKeyring, child_environment

    path = tmp_path / "keyring.json"
    for name, value in child_environment(path).items():
        monkeypatch.setenv(name, value)
    backend = FileKeyring(path)
    keyring.set_keyring(backend)
    yield backend  # tests/conftest.py's memory_keyring puts the previous backend back


@pytest.fixture(autouse=True)
def no_blocking_calls_on_gui_thread(shared_keyring: Any) -> Iterator[BlockingCallWatch]:
    """Fail a test whose widgets call SQLite or the keyring on the GUI thread (issue 9).

    The keyring is the test-only file one (tests/helpers/file_keyring.py), shared with
    the sending processes the test starts: a password the GUI saves reaches them."""
    watch = BlockingCallWatch(_gui_violation)
    watch.start()
    yield watch
    watch.stop()
    if watch.violations:
        pytest.fail(
            "SQLite or keyring calls on the GUI thread (go through the bridge or a worker "
            "thread):\n" + watch.report(),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def no_sender_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Campaigns send in processes of their own that outlive a window (and so a test):
    after the test, each sending process still listed in its data folder is stopped
    (SIGTERM pauses it cleanly; SIGKILL after 10 s)."""
    if "data_dir" not in request.fixturenames:
        yield
        return
    folder: Path = request.getfixturevalue("data_dir") / "senders"  # torn down after this
    yield
    pids = [_channel_pid(path) for path in folder.glob("*.json")] if folder.is_dir() else []
    for pid in filter(None, pids):
        stop_process(pid)


def _channel_pid(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stop_process(pid: int, limit: float = 10.0) -> None:
    """SIGTERM ``pid`` (one of the test's sending processes), then SIGKILL if it stays."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # ours: reap it, or it stays a zombie
                os.waitpid(pid, os.WNOHANG)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


@pytest.fixture
def prompts() -> ScriptedPrompts:
    return ScriptedPrompts()


@pytest.fixture
async def window(qtbot: Any, store: Store, prompts: ScriptedPrompts) -> AsyncIterator[MainWindow]:
    win = build_main_window(store, prompts)
    win.show()
    await until(lambda: win.bridge.pending == 0, what="the first load")
    yield win
    await win.bridge.drain()
    win._closing_confirmed = True  # unsaved edits left by a test are not a question to answer
    for child in list(win.windows.values()):
        child.close()
    win.close()
    win.deleteLater()
    win.bridge.shutdown()
    # Destroy the test's Qt objects here, on the GUI thread: left to a garbage collection
    # that happens to run on a worker thread, their timers warn and Qt may crash.
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
