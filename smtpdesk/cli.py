"""The command line: the same core as the GUI, for scripts and terminals.

``smtpdesk`` alone starts the desktop app. Each command group lives in
``smtpdesk/commands/<group>.py`` with a ``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Sequence

from smtpdesk import __version__
from smtpdesk.core.errors import BadInputError, InvalidSettingsError, KnownError

COMMAND_MODULES = (
    "servers",
    "config",
    "presets",
    "test",
    "sandbox",
    "campaign",
    "template",
    "mailbox",
    "domain",
)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BUG = 70  # EX_SOFTWARE: our bug, reported with the log file's name


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


def _install_logs(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from smtpdesk.core.logs import install_file_log
    from smtpdesk.core.paths import data_dir

    with contextlib.suppress(KnownError):  # the command will say why the folder is unusable
        install_file_log(data_dir(args.data_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Bad input exits 2 and the environment's failures 1, each with
    one line per problem on stderr; our bugs exit 70 naming the log with the details."""
    args = build_parser().parse_args(argv)
    _install_logs(args)
    try:
        return _run(args)
    except InvalidSettingsError as exc:
        print_problems(exc.problems)
        return EXIT_USAGE
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KnownError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader (head, less) went away: not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        known = _environment_error(args, exc)
        if known is None:
            return _report_bug(exc, args.verbose)
        print(f"error: {known}", file=sys.stderr)
        return EXIT_USAGE if isinstance(known, BadInputError) else EXIT_FAILED


def _environment_error(args: argparse.Namespace, exc: Exception) -> KnownError | None:
    """A full disk, a read-only folder or a file the user named that cannot be used."""
    from smtpdesk.core.paths import data_dir
    from smtpdesk.core.store.db import storage_error

    try:
        folder = data_dir(args.data_dir)
    except KnownError as error:
        return error
    known = storage_error(exc, folder)
    if known is None and isinstance(exc, OSError) and exc.filename:
        return BadInputError(f"{exc.filename}: {exc.strerror or exc}.")
    if known is None and isinstance(exc, OverflowError):  # a number given is out of range
        return BadInputError(f"A number is out of range: {exc}.")
    return known


def _report_bug(exc: Exception, verbose: bool) -> int:
    from smtpdesk.core.logs import current_log, log_crash, redact

    what = redact(f"{type(exc).__name__}: {exc}")
    details = log_crash(f"unexpected error: {what}", exc)
    where = current_log()
    print(
        f"error: smtpdesk hit a bug ({what})"
        + (f"; details are in the log: {where}" if where else ""),
        file=sys.stderr,
    )
    if verbose:
        print(details, file=sys.stderr, end="")
    return EXIT_BUG


def _run(args: argparse.Namespace) -> int:
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
