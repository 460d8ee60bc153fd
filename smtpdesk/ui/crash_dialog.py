"""Our bugs reach the user: one crash dialog, with the details to copy and the log named.

:class:`CrashReporter` takes over ``sys.excepthook``, ``threading.excepthook``, the
asyncio loop's exception handler and Qt's message handler. Each crash is written to the
log file (secrets masked, see ``core/logs``) and shown in one :class:`CrashDialog`: a
second crash while it is open is added to it rather than opening another window. Known
errors (the user's environment) never come here: they are told where they happen.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QMessageLogContext, QObject, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core import logs

log = logging.getLogger(__name__)
_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}
QtMessageHandler = Callable[[QtMsgType, QMessageLogContext, str], None]


class CrashDialog(QDialog):
    """What went wrong, where the log is, and the details with a "Copy details" button."""

    def __init__(self, log_path: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("smtpdesk hit a bug")
        self.setMinimumWidth(560)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(self.summary.textInteractionFlags() | _selectable())
        where = f"Details are in the log: {log_path}" if log_path else "No log file is kept."
        self.where = QLabel(f"{where}\nYour campaigns and settings are saved as they were.")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(_selectable())
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy details")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.summary, self.where, self.details, buttons):
            layout.addWidget(widget)
        self.count = 0

    def add(self, summary: str, details: str) -> None:
        """Show one more crash (the first sets the summary; later ones are counted)."""
        self.count += 1
        if self.count == 1:
            self.summary.setText(f"Something went wrong inside smtpdesk: {summary}")
        else:
            self.summary.setText(
                f"{self.count} problems went wrong inside smtpdesk; the last: {summary}"
            )
        text = self.details.toPlainText()
        block = f"{summary}\n{details}".rstrip()
        self.details.setPlainText(f"{text}\n\n{block}" if text else block)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details.toPlainText())


def _selectable() -> Any:
    from PySide6.QtCore import Qt

    return Qt.TextInteractionFlag.TextSelectableByMouse


class CrashReporter(QObject):
    """Routes every unexpected error to the log file and to one :class:`CrashDialog`."""

    reported = Signal(str, str)  # summary, details; emitted from any thread
    active: CrashReporter | None = None  # the installed one, for errors caught elsewhere

    def __init__(self, log_path: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_path = log_path
        self.dialog: CrashDialog | None = None
        self.reported.connect(self._show)  # queued when emitted off the GUI thread
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self._previous_qt: QtMessageHandler | None = None
        self._loops: list[asyncio.AbstractEventLoop] = []

    # --- installing -------------------------------------------------------------------

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook
        self._previous_qt = qInstallMessageHandler(self.qt_message)
        CrashReporter.active = self
        if loop is not None:
            self.watch_loop(loop)

    def watch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self.loop_exception)
        self._loops.append(loop)

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        threading.excepthook = self._previous_thread_hook
        qInstallMessageHandler(self._previous_qt)
        if CrashReporter.active is self:
            CrashReporter.active = None
        for loop in self._loops:
            loop.set_exception_handler(None)
        self._loops.clear()

    # --- the three sources --------------------------------------------------------------

    def excepthook(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous_hook(kind, value, tb)
            return
        self.report(f"{kind.__name__}: {value}", value.with_traceback(tb))

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        name = args.thread.name if args.thread else "a thread"
        self.report(f"{args.exc_type.__name__} in {name}: {args.exc_value}", args.exc_value)

    def loop_exception(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "error in the event loop")
        summary = f"{type(exc).__name__}: {exc}" if exc is not None else message
        self.report(summary, exc if isinstance(exc, BaseException) else None, extra=message)

    def qt_message(self, mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
        level = _QT_LEVELS.get(mode, logging.WARNING)
        if level >= logging.ERROR:
            self.report(f"Qt: {message}", None)
        else:
            logging.getLogger("qt").log(level, "%s", message)
        if self._previous_qt is not None:
            self._previous_qt(mode, context, message)

    # --- reporting ----------------------------------------------------------------------

    def report(self, summary: str, exc: BaseException | None, extra: str = "") -> None:
        """Log the crash (masked) and show it; safe from any thread, never raises."""
        try:
            details = logs.log_crash(logs.redact(summary), exc)
            if extra and extra not in details:
                details = f"{logs.redact(extra)}\n{details}"
            self.reported.emit(logs.redact(summary), details)
        except Exception:  # a crash in the crash path must not loop back here
            log.debug("the crash report failed", exc_info=True)

    def _show(self, summary: str, details: str) -> None:
        if self.dialog is None:
            self.dialog = CrashDialog(self.log_path)
            self.dialog.finished.connect(self._closed)
        self.dialog.add(summary, details)
        self.dialog.show()
        self.dialog.raise_()

    def _closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None
