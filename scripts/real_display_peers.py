"""The real-display check's peers that outlive the app: an SMTP sink and a desktop
notification server. Run with the project's venv python (aiosmtpd, jeepney), each in a process
of its own, stopped by the check with SIGTERM.

    real_display_peers.py sink PORT FILE DELAY    # one line per recipient received, in FILE
    real_display_peers.py notifications FILE      # one line per Notify call: title | text

The sink waits DELAY seconds before it accepts each message, as a distant server would.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def sink(port: int, record: Path, delay: float) -> None:
    from aiosmtpd.controller import Controller

    class Recorder:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(delay)
            with record.open("a", encoding="utf-8") as out:
                out.writelines(f"{rcpt}\n" for rcpt in envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Recorder(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"sink on 127.0.0.1:{port}", flush=True)
    _wait_for_sigterm()
    controller.stop()


def notifications(record: Path) -> None:
    from jeepney import MessageType, new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    connection = open_dbus_connection(bus="SESSION")
    reply = connection.send_and_get_reply(
        message_bus.RequestName("org.freedesktop.Notifications"), timeout=5
    )
    if reply.body != (1,):
        sys.exit(f"org.freedesktop.Notifications is owned already: {reply.body}")

    def serve() -> None:
        calls = 0
        while True:
            message = connection.receive()
            header = message.header
            if header.message_type != MessageType.method_call:
                continue
            calls += 1
            if header.fields.get(3) == "Notify":  # (app, id, icon, summary, body, ...)
                line = {"title": message.body[3], "text": message.body[4]}
                with record.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(line) + "\n")
            connection.send(new_method_return(message, "u", (calls,)))

    threading.Thread(target=serve, daemon=True).start()
    print("notification server on the session bus", flush=True)
    _wait_for_sigterm()


def _wait_for_sigterm() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
    else:
        notifications(Path(sys.argv[2]))
