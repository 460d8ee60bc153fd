"""The one way widgets run core work: coroutines as tasks on the qasync loop, results as signals.

Widgets never await and never touch SQLite, the keyring or the network themselves:
they hand a coroutine (or a blocking function) to :class:`Bridge` and connect to
what comes back. Blocking reads go to a thread; writes go through one serial
worker so two saves never race.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from smtpdesk.core import logs
from smtpdesk.core.errors import KnownError
from smtpdesk.core.store import Store
from smtpdesk.core.store.db import storage_error

T = TypeVar("T")
log = logging.getLogger(__name__)


class Notifier(QObject):
    """One way to tell the user something: logged, then emitted for the message bar."""

    message = Signal(str, str, str)  # level ("info", "warning", "error"), text, hint

    def info(self, text: str, hint: str = "") -> None:
        log.info("%s %s", text, hint)
        self.message.emit("info", text, hint)

    def warning(self, text: str, hint: str = "") -> None:
        log.warning("%s %s", text, hint)
        self.message.emit("warning", text, hint)

    def error(self, text: str, hint: str = "") -> None:
        log.error("%s %s", text, hint)
        self.message.emit("error", text, hint)


class Bridge(QObject):
    """Runs core coroutines for the widgets and reports failures through the notifier."""

    busy_changed = Signal(int)

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.notifier = Notifier(self)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtpdesk-writer")

    def start(
        self,
        coro: Coroutine[Any, Any, T],
        done: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Task[T]:
        """Run ``coro`` as a task; ``done`` gets its result, ``failed`` its exception.

        Without ``failed``, a KnownError goes to the notifier as a sentence and a hint,
        and anything else as our bug, with the traceback in the log.
        """
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        self.busy_changed.emit(len(self._tasks))

        def finished(t: asyncio.Task[T]) -> None:
            self._tasks.discard(t)
            self.busy_changed.emit(len(self._tasks))
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                if done is not None:
                    done(t.result())
            elif failed is not None:
                failed(exc)
            else:
                self.report(exc)

        task.add_done_callback(finished)
        return task

    def report(self, exc: BaseException) -> None:
        known = exc if isinstance(exc, KnownError) else storage_error(exc, self.store.folder)
        if known is not None:  # a full disk or a read-only folder: a sentence, not a bug
            self.notifier.error(known.message, known.hint)
            return
        from smtpdesk.ui.crash_dialog import CrashReporter

        reporter = CrashReporter.active
        if reporter is not None:  # the app: the one crash dialog, the log file
            reporter.report(f"{type(exc).__name__}: {exc}", exc)
        else:
            log.error("unexpected error:\n%s", "".join(traceback.format_exception(exc)))
        where = logs.current_log()
        self.notifier.error(
            f"Something went wrong inside smtpdesk: {logs.redact(repr(exc))}",
            f"This is a bug; the details are in the log{f': {where}' if where else ''}.",
        )

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking read (SQLite, keyring) on a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking write on the one serial writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(*args, **kwargs))

    def write_from_worker(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """From a worker thread (never the GUI thread, never the writer itself): run a
        blocking write on the serial writer thread and wait for it, e.g. the mailbox scan's
        records between two blocking reads of the mailbox."""
        return self._writer.submit(fn, *args, **kwargs).result()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every task started so far (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._writer.shutdown(wait=True)
