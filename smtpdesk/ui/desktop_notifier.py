"""Desktop notifications, for news the user should get while looking at another window.

One small seam (``notify``) so tests record what would be shown. The system tray's
balloon is used where the desktop has a tray. Without one (GNOME by default), on Linux the
notification goes to the desktop's notification server over D-Bus (the freedesktop.org
``Notify`` call); elsewhere the window asks for attention (the taskbar entry flashes).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from smtpdesk import APP_NAME

log = logging.getLogger(__name__)
NOTIFY_SECONDS = 2.0  # the D-Bus call's time-out (the app may be about to exit)


class DesktopNotifier(QObject):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self._tray: QSystemTrayIcon | None = None
        self.sent: list[threading.Thread] = []  # the D-Bus notifications' threads

    def notify(self, title: str, text: str) -> None:
        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            if self._tray is None:
                self._tray = QSystemTrayIcon(QApplication.windowIcon(), self)
                self._tray.activated.connect(lambda _reason: self._raise())
                self._tray.messageClicked.connect(self._raise)
            self._tray.show()
            self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10000)
        elif not self._to_notification_server(title, text):
            QApplication.alert(self.window)

    def _to_notification_server(self, title: str, text: str) -> bool:
        """Send the freedesktop.org notification on a thread of its own (a D-Bus call must
        not block the GUI); not a daemon thread, so one sent as the app quits still leaves
        (within NOTIFY_SECONDS). False where there is no session bus."""
        if not sys.platform.startswith("linux") or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return False
        thread = threading.Thread(
            target=send_notification, args=(title, text), name="smtpdesk-notify"
        )
        thread.start()
        self.sent.append(thread)
        return True

    def _raise(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()


def send_notification(title: str, text: str) -> None:
    """Blocking: ``org.freedesktop.Notifications.Notify`` on the session bus; a desktop
    without a notification server answers with an error, which is only logged."""
    try:
        from jeepney import DBusAddress, MessageType, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        server = DBusAddress(
            "/org/freedesktop/Notifications",
            bus_name="org.freedesktop.Notifications",
            interface="org.freedesktop.Notifications",
        )
        # app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout (ms)
        call = new_method_call(
            server, "Notify", "susssasa{sv}i", (APP_NAME, 0, APP_NAME, title, text, [], {}, -1)
        )
        with open_dbus_connection(bus="SESSION", auth_timeout=NOTIFY_SECONDS) as connection:
            reply = connection.send_and_get_reply(call, timeout=NOTIFY_SECONDS)
        if reply.header.message_type == MessageType.error:
            log.info("no desktop notification: %s", reply.body)
    except Exception as exc:  # no jeepney, no bus, a time-out: the window alone says it
        log.info("no desktop notification: %r", exc)
