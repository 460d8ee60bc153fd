"""The command line: the same core as the GUI, for scripts and terminals.

``smtpdesk`` alone starts the desktop app. Each command group lives in
``smtpdesk/commands/<group>.py`` with a ``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from smtpdesk import __version__
from smtpdesk.core.errors import InvalidSettingsError, KnownError

COMMAND_MODULES = ("servers", "config", "presets", "test", "sandbox", "campaign")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smtpdesk", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"smtpdesk {__version__}")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data folder (default: $SMTPDESK_DATA_DIR or the platform's user data folder)",
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="check Qt, the database, the keyring and TLS, then exit",
    )
    parser.add_argument(
        "--screenshots",
        metavar="DIR",
        help="render each main screen with sample data to PNG files in DIR, then exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"smtpdesk.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"smtpdesk.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def print_problems(problems: Sequence[object], prefix: str = "") -> None:
    for problem in problems:
        print(f"error: {prefix}{problem}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.self_check:
            from smtpdesk.selfcheck import run_self_check

            return run_self_check(args.data_dir)
        if args.screenshots:
            from smtpdesk.ui.screenshots import render_screenshots

            return render_screenshots(args.screenshots)
        if args.command is None:
            from smtpdesk.ui.app import run_app

            return run_app(args.data_dir)
        return int(args.func(args))
    except InvalidSettingsError as exc:
        print_problems(exc.problems)
        return EXIT_USAGE
    except KnownError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader (head, less) went away: not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
