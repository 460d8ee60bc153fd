"""smtpdesk presets: the provider presets and what they fill."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from smtpdesk.cli import EXIT_OK
from smtpdesk.core.presets import PRESETS


def register(sub: Any) -> None:
    parser = sub.add_parser("presets", help="list the provider presets")
    parser.set_defaults(func=list_presets)


def list_presets(_args: argparse.Namespace) -> int:
    for p in PRESETS:
        host = p.host.format(region="REGION") if p.regions else (p.host or "(your host)")
        print(
            f"{p.key:<13} {p.label}: {host}:{p.port} {p.tls_type}, auth {p.auth_protocol}"
            + (f", username {p.username}" if p.username else "")
        )
        print(textwrap.indent(textwrap.fill(p.help, 86), " " * 14))
        if p.limits_note:
            print(f"{'':14}Limits: {p.limits_note}")
        if p.regions:
            print(textwrap.indent(textwrap.fill("Regions: " + ", ".join(p.regions), 86), " " * 14))
    return EXIT_OK
