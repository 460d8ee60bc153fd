"""smtpdesk servers dkim NAME --domain D --selector S (--generate | --key-file PEM | --disable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from smtpdesk.cli import EXIT_OK
from smtpdesk.commands.common import store_from
from smtpdesk.core.domain.dkim_setup import disable_dkim, set_up_dkim
from smtpdesk.core.errors import BadInputError


def register(actions: Any) -> None:
    parser = actions.add_parser(
        "dkim",
        help="sign this server's messages with DKIM: keys, and the TXT records to publish",
        description=(
            "Store the DKIM private key in the keyring (generated, or from a PEM file) and "
            "print the DNS TXT record(s) to publish. With --algorithm both the Ed25519 key "
            "is published under SELECTOR-ed25519. Without --generate or --key-file, the "
            "stored keys are kept and their records printed again."
        ),
    )
    parser.add_argument("server", help="the server's name or uuid")
    parser.add_argument("--domain", help="the signing domain (d=), usually the From domain")
    parser.add_argument("--selector", help="the selector (s=), e.g. smtpdesk or 2026a")
    parser.add_argument("--algorithm", choices=("rsa", "ed25519", "both"), help="default: rsa")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--generate", action="store_true", help="generate new key(s)")
    how.add_argument(
        "--key-file",
        action="append",
        metavar="PEM",
        default=[],
        help="an unencrypted PEM private key (twice for --algorithm both)",
    )
    how.add_argument("--disable", action="store_true", help="stop signing (keys are kept)")
    parser.set_defaults(func=run_dkim)


def _read_keys(paths: list[str]) -> list[tuple[str, bytes]]:
    files = []
    for name in paths:
        try:
            files.append((name, Path(name).read_bytes()))
        except OSError as exc:
            raise BadInputError(f"Cannot read {name}: {exc.strerror}.", "Check the path.") from exc
    return files


def run_dkim(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        store.require_writable()
        if args.disable:
            if args.domain or args.selector or args.algorithm:
                raise BadInputError("--disable takes no --domain, --selector or --algorithm.")
            settings = disable_dkim(store, args.server)
            print(f"DKIM signing is off for {settings.label}.")
            return EXIT_OK
        settings, lines = set_up_dkim(
            store,
            args.server,
            domain=args.domain,
            selector=args.selector,
            algorithm=args.algorithm,
            generate=args.generate,
            key_files=_read_keys(args.key_file),
        )
    print(
        f"DKIM signing is on for {settings.label} (d={settings.dkim_domain}, "
        f"{settings.dkim_algorithm}). Publish:",
        file=sys.stderr,
    )
    for line in lines:
        print(line)
    return EXIT_OK
