"""``smtpdesk test SERVER``: run the server test step by step and explain any failure."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from smtpdesk.commands.common import store_from
from smtpdesk.core import secrets
from smtpdesk.core.feedback.mailbox import Credentials
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.feedback.scan import credentials
from smtpdesk.core.server_health import record_test
from smtpdesk.core.settings import AuthProtocol, MailboxSettings
from smtpdesk.core.smtp.servertest import TestReport, TestStep, test_server

EXIT_OK, EXIT_FAILED = 0, 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test", help="test a server: DNS, connect, TLS, AUTH and optionally a real email"
    )
    parser.add_argument("server", metavar="SERVER", help="the server's name or uuid")
    parser.add_argument("--to", metavar="ADDRESS", help="also send a test email to ADDRESS")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--read-back",
        action="store_true",
        help="also send to the feedback mailbox and show how its server judged SPF, DKIM, DMARC",
    )
    parser.set_defaults(func=cmd_test)


def format_step(step: TestStep) -> str:
    mark = "✓" if step.ok else "✗"
    return f"{mark} {step.name:<12} {step.seconds * 1000:6.0f} ms  {step.detail}"


def print_report_end(report: TestReport, out: TextIO) -> None:
    if report.capabilities:
        caps = ", ".join(f"{k} {v}" for k, v in report.capabilities.items())
        print(f"capabilities: {caps}", file=out)
    for warning in report.warnings:
        print(f"warning: {warning}", file=out)
    if report.domain is not None:  # the Domain step's checklist (advice, not the verdict)
        print(f"domain {report.domain.domain}:", file=out)
        for check in report.domain.checks:
            if check.status != "skip":
                print(f"  {check.line()}", file=out)
    diagnosis = report.diagnosis
    if diagnosis is None:
        print("all steps passed", file=out)
        return
    print(f"\n{diagnosis.message}", file=out)
    for hint in diagnosis.hints:
        print(f"  hint: {hint}", file=out)
    if diagnosis.raw:
        print(f"  server said: {diagnosis.raw}", file=out)


def _mailbox(args: argparse.Namespace) -> tuple[MailboxSettings, Credentials]:
    """The feedback mailbox and how to log in to it (KnownError when there is none)."""
    with store_from(args) as store:
        mailbox = FeedbackBook(store).mailbox()
        return mailbox, asyncio.run(credentials(store, mailbox))


def cmd_test(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        settings = store.server(args.server)
    password = None
    if settings.auth_protocol != AuthProtocol.NONE:
        password = secrets.get_password(settings.uuid)
    out = sys.stdout
    if not args.json:
        print(
            f"testing {settings.label} ({settings.host}:{settings.port}, "
            f"{settings.tls_type}, auth {settings.auth_protocol})",
            file=out,
        )

    def show(step: TestStep) -> None:
        if not args.json:
            print(format_step(step), file=out, flush=True)

    mailbox = _mailbox(args) if args.read_back else None
    report = asyncio.run(
        test_server(settings, password, to=args.to, on_step=show, read_back=mailbox)
    )
    store = store_from(args)
    try:  # the saved settings were tested: the GUI's dot shows this verdict too
        record_test(store, settings, report.ok, report.summary())
    finally:
        store.close()
    if args.json:
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    else:
        print_report_end(report, out)
    return EXIT_OK if report.ok else EXIT_FAILED
