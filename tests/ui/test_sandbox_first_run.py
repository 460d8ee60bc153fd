"""On a first run the app starts the sandbox and adds a server "sandbox" that reaches it."""

from __future__ import annotations

import asyncio
import socket

from smtpdesk.core import secrets
from smtpdesk.core.smtp.sandbox import ensure_sandbox_server, wants_sandbox
from smtpdesk.core.smtp.servertest import test_server as run_server_test
from smtpdesk.core.store import Store, open_store
from smtpdesk.ui.main_window import MainWindow
from tests.ui.conftest import until


async def test_first_run_starts_the_sandbox_and_its_server_passes_a_test(
    window: MainWindow, store: Store
) -> None:
    assert store.created
    window.sandbox.autostart()
    await until(lambda: window.sandbox.running, what="the sandbox to start")
    await until(
        lambda: any(s.name == "sandbox" for s in window.servers.servers), what="the server list"
    )
    server = store.server("sandbox")
    assert server.port == window.sandbox.server.port
    assert not server.tls_skip_verify and len(server.tls_pin_sha256) == 64  # pinned
    report = await run_server_test(server, secrets.get_password(server.uuid), to="me@example.com")
    assert report.ok, report.diagnosis
    assert any(window.sandbox.server.inbox_dir.glob("*.eml"))
    await window.sandbox.stop()
    assert not window.sandbox.running


async def test_later_runs_start_it_only_while_the_server_exists(
    window: MainWindow, store: Store
) -> None:
    again = open_store(store.folder)
    assert not again.created
    assert not wants_sandbox(again)  # no "sandbox" server yet: nothing to serve
    window.sandbox.autostart()
    await until(lambda: window.sandbox.running, what="the sandbox to start")
    assert wants_sandbox(again)
    await window.sandbox.stop()
    again.close()


async def test_a_later_run_reads_the_servers_off_the_gui_thread(
    window: MainWindow, store: Store
) -> None:
    """Not a first run: whether to start is a database read, made through the bridge (the
    autouse hook no_blocking_calls_on_gui_thread fails a read on the GUI thread)."""
    store.created = False
    window.sandbox.autostart()
    await window.bridge.drain()
    assert not window.sandbox.running  # no "sandbox" server: nothing to serve
    await asyncio.to_thread(ensure_sandbox_server, store, free_port())
    window.sandbox.autostart()
    await until(lambda: window.sandbox.running, what="the sandbox to start")
    await window.sandbox.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
