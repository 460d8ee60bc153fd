"""``smtpdesk mailbox set|show|test|scan``: the feedback mailbox (issue 12).

Bounces, complaints and unsubscribe requests arrive there; a scan reads them, marks the
recipients and suppresses the addresses. Bad input exits 2 and saves nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from typing import Any

from smtpdesk.commands.common import print_warnings, store_from
from smtpdesk.core.durations import format_duration
from smtpdesk.core.errors import BadInputError, InvalidSettingsError, KnownError
from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.feedback.mailbox import MailboxCheck, Step
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.secrets import KeyringUnavailableError
from smtpdesk.core.settings import parse_mailbox
from smtpdesk.core.smtp.certificate import format_fingerprint

EXIT_OK, EXIT_FAILED = 0, 1
# option -> settings field
_OPTIONS = {
    "protocol": "protocol",
    "host": "host",
    "port": "port",
    "tls": "tls_type",
    "pin": "tls_pin_sha256",
    "username": "username",
    "oauth_server": "oauth_server",
    "folder": "folder",
    "processed": "processed",
    "processed_folder": "processed_folder",
    "unsubscribe_address": "unsubscribe_address",
    "verp": "verp",
    "interval": "scan_interval",
    "batch": "scan_batch",
    "soft_bounce_limit": "soft_bounce_limit",
    "hard_bounce_limit": "hard_bounce_limit",
    "complaint_limit": "complaint_limit",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mailbox", help="the mailbox where bounces, complaints and unsubscribe requests arrive"
    )
    sub = parser.add_subparsers(dest="mailbox_command", metavar="ACTION", required=True)
    p = sub.add_parser("set", help="set the feedback mailbox (and enable it)")
    p.add_argument("--protocol", choices=("imap", "pop3"))
    p.add_argument("--host")
    p.add_argument("--port")
    p.add_argument("--tls", metavar="TLS|STARTTLS|none")
    p.add_argument("--skip-verify", action="store_true", help="do not check certificates")
    p.add_argument("--pin", metavar="SHA256", help="trust only this certificate")
    p.add_argument("--username")
    login = p.add_mutually_exclusive_group()
    login.add_argument("--password-stdin", action="store_true")
    login.add_argument("--prompt-password", action="store_true")
    login.add_argument(
        "--oauth-server", metavar="NAME", help="log in with this server's OAuth sign-in"
    )
    p.add_argument("--folder", help="where the feedback arrives (INBOX)")
    p.add_argument("--processed", choices=("move", "read", "delete"))
    p.add_argument("--processed-folder", help="where 'move' puts them (smtpdesk-processed)")
    p.add_argument("--unsubscribe-address", metavar="ADDRESS", help="List-Unsubscribe mailto")
    p.add_argument(
        "--verp",
        action=argparse.BooleanOptionalAction,
        help="return path local+TOKEN@domain of the unsubscribe address (the server must allow it)",
    )
    p.add_argument("--interval", help="scan interval while the app runs (15m)")
    p.add_argument("--batch", help="messages read by one scan at the most (5000)")
    p.add_argument("--soft-bounce-limit", help="soft bounces before suppression (3)")
    p.add_argument("--hard-bounce-limit", help="hard bounces before suppression (1)")
    p.add_argument("--complaint-limit", help="complaints before suppression (1)")
    p.add_argument("--disable", action="store_true", help="keep the settings but stop scanning")
    p.set_defaults(func=cmd_set)
    p = sub.add_parser("show", help="the mailbox's settings and the last scan")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("test", help="connect, TLS, login, folder and count, as saved")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_test)
    p = sub.add_parser("scan", help="read the mailbox now")
    p.add_argument("--json", action="store_true", help="print this scan's counts as JSON")
    p.set_defaults(func=cmd_scan)


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.prompt_password:
        return getpass.getpass("Mailbox password: ")
    return None


def cmd_set(args: argparse.Namespace) -> int:
    data: dict[str, object] = {
        field: getattr(args, option)
        for option, field in _OPTIONS.items()
        if getattr(args, option) is not None
    }
    if args.skip_verify:
        data["tls_skip_verify"] = True
    data["enabled"] = not args.disable
    with store_from(args) as store:
        store.require_writable()
        book = FeedbackBook(store)
        base = book.mailbox()
        report = parse_mailbox(data, base=base, servers=store.servers())
        if report.settings is None:
            raise InvalidSettingsError(report.errors, "The mailbox was not saved")
        settings = report.settings
        password = _read_password(args)
        if password == "":
            raise BadInputError("The password is empty; nothing was saved.")
        if (
            password is None
            and not settings.oauth_server
            and settings.enabled
            and not scanning.has_password()
        ):
            raise BadInputError(
                "The mailbox needs a password: give --password-stdin, --prompt-password "
                "or --oauth-server NAME; nothing was saved."
            )
        if password is not None:
            scanning.set_password(password)
        book.put_mailbox(settings)
    print_warnings(report.warnings)
    print(f"mailbox saved: {settings.protocol} {settings.username}@{settings.host}:{settings.port}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        book = FeedbackBook(store)
        settings = book.mailbox()
        last = book.last_scan()
    data = settings.to_dict()
    data["password"] = "oauth" if settings.oauth_server else _password_state()
    data["last_scan"] = None if last is None else last[1]
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    data["scan_interval"] = format_duration(settings.scan_interval)  # 15m, as it was typed
    for key, value in data.items():
        if key != "last_scan":
            print(f"{key}: {value}")
    if last is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last[0]))
        print(f"last scan: {when}: {_summary(last[1])}")
    return EXIT_OK


def _password_state() -> str:
    """Whether a password is stored; showing the settings must not need the keyring."""
    try:
        return "stored" if scanning.has_password() else "none"
    except KeyringUnavailableError:
        return "unknown (no keyring available)"


def _summary(result: dict[str, Any]) -> str:
    if result.get("error"):
        return f"failed: {result['error']}"
    names = ("hard", "soft", "complaints", "unsubscribes", "ignored", "unmatched")
    return ", ".join(f"{result.get(n, 0)} {n}" for n in names)


def _print_step(step: Step) -> None:
    mark = "✓" if step.ok else "✗"
    print(f"{mark} {step.name:<8} {step.seconds * 1000:6.0f} ms  {step.detail}")


def cmd_test(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        settings = FeedbackBook(store).mailbox()
        report: MailboxCheck = asyncio.run(
            scanning.check_mailbox(store, settings, on_step=None if args.json else _print_step)
        )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.diagnosis is not None:
        print(f"\n{report.diagnosis.message}")
        for hint in report.diagnosis.hints:
            print(f"  hint: {hint}")
        if report.diagnosis.raw:
            print(f"  server said: {report.diagnosis.raw}")
        if (cert := report.trustable()) is not None:
            print(f"  certificate SHA-256 {format_fingerprint(cert.sha256)}: {cert.summary()}")
            print(f"  to trust it: smtpdesk mailbox set --pin {cert.sha256}")
    else:
        print("all steps passed")
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_scan(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        store.require_writable()
        settings = FeedbackBook(store).mailbox()
        result = asyncio.run(scanning.scan(store, settings))
    data = result.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    elif result.ok:
        print(f"{result.read} message(s) read: {_summary(data)}")
        if result.more:
            print("more messages wait: the next scan goes on")
    if result.diagnosis is not None:
        raise KnownError(result.diagnosis.message, " ".join(result.diagnosis.hints))
    return EXIT_OK
