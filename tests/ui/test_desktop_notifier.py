"""Desktop notifications without a system tray (GNOME's default): the freedesktop.org
``Notify`` call on the session bus, here a private dbus-daemon with a small notification
server on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from smtpdesk.ui.desktop_notifier import DesktopNotifier
from tests.ui.conftest import until

pytestmark = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None and not os.environ.get("CI"),
    reason="needs dbus-daemon (Debian package dbus)",
)


class NotificationServer:
    """Owns org.freedesktop.Notifications on ``address`` and records each Notify call."""

    def __init__(self, address: str) -> None:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        self.calls: list[tuple[Any, ...]] = []
        self.connection = open_dbus_connection(bus=address)
        reply = self.connection.send_and_get_reply(
            message_bus.RequestName("org.freedesktop.Notifications"), timeout=5
        )
        assert reply.body == (1,)  # the primary owner
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from jeepney import MessageType, new_method_return

        while True:
            try:
                message = self.connection.receive()
            except (OSError, ValueError):
                return  # closed
            header = message.header
            if header.message_type != MessageType.method_call:
                continue
            self.calls.append((header.fields.get(3), header.fields.get(8), *message.body))
            self.connection.send(new_method_return(message, "u", (len(self.calls),)))

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # it says it cannot raise its fd limit when not root
        text=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address
    finally:
        daemon.terminate()
        daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()


async def test_without_a_tray_the_notification_goes_to_the_desktops_server(
    qtbot: Any, session_bus: str
) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen: no tray, as on GNOME
    server = NotificationServer(session_bus)
    window = QWidget()
    qtbot.addWidget(window)
    notifier = DesktopNotifier(window)
    try:
        notifier.notify("Spring news keeps sending", "To stop it, open smtpdesk again…")
        await until(lambda: server.calls, what="the Notify call")
    finally:
        server.close()
    [(member, signature, app, _replaces, _icon, title, text, *_rest)] = server.calls
    assert (member, signature) == ("Notify", "susssasa{sv}i")
    assert (app, title, text) == (
        "smtpdesk",
        "Spring news keeps sending",
        "To stop it, open smtpdesk again…",
    )
    for thread in notifier.sent:
        thread.join(5)
        assert not thread.is_alive()


async def test_a_bus_without_a_notification_server_is_no_error(
    qtbot: Any, session_bus: str
) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    notifier = DesktopNotifier(window)
    notifier.notify("title", "text")  # the bus answers "no such service": only logged
    [thread] = notifier.sent
    await until(lambda: not thread.is_alive(), what="the call to end")
