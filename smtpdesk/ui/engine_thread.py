"""One background thread with its own asyncio loop, where campaigns send.

Measured with ``bench/gui_lag.py``: on the shared qasync loop the engine reached about a
quarter of the CLI's throughput (each of its many small callbacks goes through Qt's event
queue), so the engine runs here, on a plain asyncio loop, and the GUI only receives
progress through queued Qt signals.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class EngineThread:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._main, args=(ready,), name="smtpdesk-engine", daemon=True
                )
                self._thread.start()
                ready.wait()
            assert self._loop is not None
            return self._loop

    def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coro`` on the engine's loop; await it from the GUI with ``asyncio.wrap_future``."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Any, *args: Any) -> None:
        """Call ``fn(*args)`` on the engine's loop (for the runner's pause and cancel)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None and self._thread is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
                self._loop = None


ENGINE = EngineThread()
