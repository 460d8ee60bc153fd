"""The one sandbox server of a running app, shared by the main window and the inbox."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from smtpdesk.core.smtp.sandbox import SandboxServer, start_sandbox, wants_sandbox
from smtpdesk.ui.bridge import Bridge


class SandboxService(QObject):
    """Starts and stops the capture server on the app's loop; ``changed`` carries a status."""

    changed = Signal(str)

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.server: SandboxServer | None = None
        self.status = "The sandbox server is stopped."

    @property
    def running(self) -> bool:
        return self.server is not None

    def autostart(self) -> None:
        """On a first run, or while the server "sandbox" exists, have the sandbox listening."""
        self.bridge.start(self._autostart())

    async def _autostart(self) -> None:
        if await self.bridge.read(wants_sandbox, self.bridge.store):  # SQLite: off the GUI thread
            await self.start()

    def toggle(self) -> None:
        self.bridge.start(self.stop() if self.server else self.start())

    async def start(self) -> None:
        if self.server is not None:
            return
        self.server = await start_sandbox(
            self.bridge.store, read=self.bridge.read, write=self.bridge.write
        )
        self._tell(
            f"The sandbox listens on 127.0.0.1:{self.server.port}; "
            "the server 'sandbox' sends to it."
        )

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
        self._tell("The sandbox server is stopped.")

    def _tell(self, status: str) -> None:
        self.status = status
        self.changed.emit(status)
