"""``smtpdesk sandbox``: a local capture SMTP server, and the server "sandbox" pointing at it."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from smtpdesk.commands.common import store_from
from smtpdesk.core.smtp.sandbox import DEFAULT_PORT, SandboxServer, ensure_sandbox_server
from smtpdesk.core.store import Store


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox", help="run a local SMTP server that keeps every message as a .eml file"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        return asyncio.run(_serve(store.folder, args.port, store))


async def _serve(folder: Path, port: int, store: Store) -> int:
    server = SandboxServer(folder, port)
    bound = await server.start()
    try:
        settings = ensure_sandbox_server(store, bound)
        print(
            f"sandbox SMTP server on 127.0.0.1:{bound} (STARTTLS, AUTH as "
            f"{settings.username!r}; password in the keyring)",
            flush=True,
        )
        print(
            f"server {settings.name!r} points at it; messages go to {server.inbox_dir}", flush=True
        )
        print("press Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()
    finally:
        await server.stop()
    return 0
