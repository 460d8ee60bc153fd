"""smtpdesk config import|export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from smtpdesk.cli import EXIT_OK
from smtpdesk.commands.common import store_from
from smtpdesk.core.config_io import export_config, import_config
from smtpdesk.core.paths import write_private
from smtpdesk.core.wording import counted


def register(sub: Any) -> None:
    parser = sub.add_parser("config", help="import or export the server configuration")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="import smtpdesk TOML or listmonk settings JSON")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=import_command)
    exp = actions.add_parser("export", help="write the configuration as TOML, without passwords")
    exp.add_argument("file", type=Path, nargs="?", help="default: standard output")
    exp.set_defaults(func=export_command)


def import_command(args: argparse.Namespace) -> int:
    store = store_from(args)
    store.require_writable()
    plan = import_config(store, args.file)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    with_password = sum(1 for _, password in plan.servers if password is not None)
    print(
        f"imported {counted(len(plan.servers), 'server')}, "
        f"{counted(with_password, 'password')} into the keyring"
        + (", and the app sending settings" if plan.app else "")
    )
    return EXIT_OK


def export_command(args: argparse.Namespace) -> int:
    text = export_config(store_from(args))
    if args.file is None:
        sys.stdout.write(text)
    else:
        write_private(args.file, text)
        print(f"exported to {args.file}", file=sys.stderr)
    return EXIT_OK
