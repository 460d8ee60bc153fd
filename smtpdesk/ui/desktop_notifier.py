"""Desktop notifications, for news the user should get while looking at another window.

One small seam (``notify``) so tests record what would be shown. The system tray's
balloon is used where the desktop has a tray; elsewhere the window asks for attention
(the taskbar entry flashes).
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget


class DesktopNotifier(QObject):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self._tray: QSystemTrayIcon | None = None

    def notify(self, title: str, text: str) -> None:
        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            if self._tray is None:
                self._tray = QSystemTrayIcon(QApplication.windowIcon(), self)
                self._tray.activated.connect(lambda _reason: self._raise())
                self._tray.messageClicked.connect(self._raise)
            self._tray.show()
            self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10000)
        else:
            QApplication.alert(self.window)

    def _raise(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()
