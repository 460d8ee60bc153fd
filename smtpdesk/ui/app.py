"""Starting the desktop app: QApplication, the qasync loop, the store and the main window.

Only what the main window needs is imported here; the wizard, the live panel
(pyqtgraph), Jinja2 and aiosmtpd load when their window is first opened.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import qasync
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from smtpdesk import APP_NAME, __version__
from smtpdesk.core.logs import install_file_log
from smtpdesk.core.store import Store, open_store
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.crash_dialog import CrashReporter
from smtpdesk.ui.gc_guard import GuiThreadCollector
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import Prompts


def app_icon() -> QIcon:
    try:
        from smtpdesk.resources import resource_path

        return QIcon(str(resource_path("icons/smtpdesk.svg")))
    except (ImportError, FileNotFoundError):
        return QIcon()


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists), named so the desktop can match its icon."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName(APP_NAME)
    app.setWindowIcon(app_icon())
    return app


def ui_state(folder: Path) -> QSettings:
    """Window sizes and splitter positions, kept in the data folder beside the database."""
    return QSettings(str(folder / "window-state.ini"), QSettings.Format.IniFormat)


def build_main_window(store: Store, prompts: Prompts | None = None) -> MainWindow:
    bridge = Bridge(store)
    return MainWindow(bridge, prompts or Prompts(), ui_state(store.folder))


class StartupProbe(QObject):
    """For bench/startup_time.py (SMTPDESK_EXIT_AFTER_SHOWN=1): at the main window's first
    paint, print the ms since SMTPDESK_T0 (the launcher's time.time()) and close the window."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and isinstance(watched, MainWindow):
            watched.removeEventFilter(self)
            elapsed_ms = (time.time() - float(os.environ.get("SMTPDESK_T0", "nan"))) * 1000
            print(f"shown-after-ms={elapsed_ms:.0f}", flush=True)
            QTimer.singleShot(0, watched.close)
        return False


def run_app(data_dir: str | None) -> int:
    """Show the main window and run the shared Qt/asyncio loop until the last window closes."""
    app = create_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    collector = GuiThreadCollector(app)
    collector.start()
    store = open_store(data_dir)
    reporter = CrashReporter(install_file_log(store.folder))  # our bugs: one dialog, the log
    reporter.install(loop)
    window = build_main_window(store)
    if os.environ.get("SMTPDESK_EXIT_AFTER_SHOWN"):
        probe = StartupProbe(window)
        window.installEventFilter(probe)
    window.show()
    window.sandbox.autostart()
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    try:
        with loop:
            loop.run_until_complete(closed.wait())
            # Paused, unless the user chose to keep them sending in their own processes.
            loop.run_until_complete(window.pause_campaigns())
            loop.run_until_complete(window.sandbox.stop())
            window.bridge.shutdown()
    finally:
        reporter.uninstall()
        collector.stop()
        store.close()
    return 0


def main() -> int:
    """The ``smtpdesk-gui`` entry point: the same options as ``smtpdesk``."""
    from smtpdesk.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
