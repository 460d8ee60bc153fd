"""Small helpers the command modules share."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterable
from pathlib import Path

from smtpdesk.core.errors import BadInputError
from smtpdesk.core.settings import Problem
from smtpdesk.core.store import Store, open_store


def store_from(args: argparse.Namespace) -> Store:
    return open_store(args.data_dir)


def read_text(path: str) -> str:
    """A UTF-8 file named on the command line; BadInputError (exit 2) when it cannot be."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"{path} cannot be read: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"{path} is not UTF-8 text (byte {exc.start}).", "Save it as UTF-8."
        ) from exc


def print_warnings(problems: Iterable[Problem]) -> None:
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)


def read_password(args: argparse.Namespace) -> str | None:
    """The password from stdin or an interactive prompt; None when neither was asked for."""
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    if getattr(args, "prompt_password", False):
        return getpass.getpass("SMTP password (empty to remove): ")
    return None


def add_password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    group.add_argument(
        "--prompt-password", action="store_true", help="ask for the password without echoing it"
    )
