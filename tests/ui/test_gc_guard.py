"""The GUI-thread collector frees Qt cycles on the GUI thread, never on a worker's."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QTimer

from smtpdesk.ui.gc_guard import GuiThreadCollector
from tests.ui.conftest import until


class _Cycle(QObject):
    freed_on: ClassVar[list[str]] = []

    def __init__(self) -> None:
        super().__init__()
        self.timer = QTimer(self)
        self.me = self  # a reference cycle: only the collector frees it

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


async def test_cycles_are_freed_on_the_gui_thread_not_by_a_worker(qtbot: Any) -> None:
    assert not gc.isenabled()  # the autouse fixture runs the app's collector
    cycle = _Cycle()
    ref = weakref.ref(cycle)
    del cycle
    # A worker allocating heavily would have triggered the automatic collector on its thread.
    worker = threading.Thread(target=lambda: [[] for _ in range(200_000)], name="worker")
    worker.start()
    worker.join()
    assert ref() is not None  # still waiting for the GUI thread
    garbage = [[] for _ in range(gc.get_threshold()[0] * 2)]  # past the threshold, kept alive
    await until(lambda: ref() is None, what="the GUI-thread collection")
    assert _Cycle.freed_on == [threading.main_thread().name]
    del garbage


def test_stop_gives_the_automatic_collector_back() -> None:
    collector = GuiThreadCollector()
    gc.enable()  # as in the app before start(); the test session keeps it off otherwise
    try:
        collector.start()
        assert not gc.isenabled()
        collector.stop()
        assert gc.isenabled()
    finally:
        gc.disable()
