"""``smtpdesk template``: the saved layouts campaigns wrap their message in.

A layout is HTML with one ``{{ content }}`` slot and a ``<style>`` block; ``default``
ships with the app. Bad input (an unreadable file, no slot, a taken or unknown name)
exits 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from smtpdesk.commands.common import read_text, store_from
from smtpdesk.core.campaign.layouts import Layouts
from smtpdesk.core.errors import BadInputError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("template", help="saved layouts for campaign messages")
    sub = parser.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="every layout, the default first")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="print a layout's HTML")
    p.add_argument("name")
    p.set_defaults(func=cmd_show)
    for name, helptext, func in (
        ("add", "save a new layout from an HTML file", Layouts.add),
        ("edit", "replace a saved layout's HTML", Layouts.edit),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("name")
        p.add_argument(
            "--html-file", required=True, metavar="F", help="UTF-8 HTML, with {{ content }}"
        )
        p.set_defaults(func=cmd_save, save=func)
    p = sub.add_parser("remove", help="delete a saved layout")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)
    p = sub.add_parser("export", help="write a layout's HTML to a file")
    p.add_argument("name")
    p.add_argument("file")
    p.set_defaults(func=cmd_export)


def cmd_list(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        found = Layouts(store).all()
    if args.json:
        rows = [
            {
                "name": layout.name,
                "builtin": layout.builtin,
                "bytes": len(layout.html.encode("utf-8")),
                "updated_at": layout.updated_at or None,
            }
            for layout in found
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for layout in found:
        when = (
            "shipped with smtpdesk"
            if layout.builtin
            else datetime.fromtimestamp(layout.updated_at).strftime("%Y-%m-%d %H:%M")
        )
        print(f"{layout.name}\t{len(layout.html.encode('utf-8')):,} bytes\t{when}")
    return 0


def _html(args: argparse.Namespace) -> str:
    with store_from(args) as store:
        return Layouts(store).get(args.name).html


def cmd_show(args: argparse.Namespace) -> int:
    html = _html(args)
    sys.stdout.write(html if html.endswith("\n") else html + "\n")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    """``add`` and ``edit``: ``args.save`` is :meth:`Layouts.add` or :meth:`Layouts.edit`."""
    html = read_text(args.html_file)
    with store_from(args) as store:
        store.require_writable()
        args.save(Layouts(store), args.name, html)
    print(f"saved layout {args.name}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        store.require_writable()
        Layouts(store).remove(args.name)
    print(f"removed layout {args.name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    html = _html(args)
    try:
        Path(args.file).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"{args.file} cannot be written: {exc.strerror}.") from exc
    print(f"wrote {args.file}")
    return 0
