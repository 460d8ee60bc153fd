"""``smtpdesk campaign``: create, send, resume, inspect and export campaigns."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from smtpdesk.commands.campaign_io import (
    EXIT_OK,
    EXIT_STOPPED,
    ProgressBar,
    print_import,
    read_file,
    run_exit_code,
    sliding_window,
)
from smtpdesk.commands.common import store_from
from smtpdesk.core.campaign import recipients as recipient_files
from smtpdesk.core.campaign import review
from smtpdesk.core.campaign.actions import effective_state
from smtpdesk.core.campaign.content import CampaignContent, require_valid
from smtpdesk.core.campaign.engine import CampaignRunner, pause_on_signals
from smtpdesk.core.campaign.layouts import with_layout
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.campaign.suppressions import SuppressionList
from smtpdesk.core.errors import BadInputError, InvalidSettingsError
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.settings import POOL_NAME
from smtpdesk.core.store import Store
from smtpdesk.core.store.db import storage_error


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("campaign", help="create, send and follow campaigns")
    sub = parser.add_subparsers(dest="campaign_command", metavar="ACTION", required=True)
    _register_create(sub)
    for name, helptext in (
        ("send", "send a campaign (until it is done or paused)"),
        ("resume", "resume a paused or interrupted campaign"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("id", type=int)
        p.add_argument("--no-progress", action="store_true", help="no progress bar (for scripts)")
        p.set_defaults(func=cmd_send)
    p = sub.add_parser("status", help="a campaign's state and counts")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)
    sub.add_parser("list", help="every campaign").set_defaults(func=cmd_list)
    p = sub.add_parser("retry-failed", help="make failed recipients pending again")
    p.add_argument("id", type=int)
    p.add_argument(
        "--all",
        action="store_true",
        help="also permanent failures (by default only temporary ones)",
    )
    p.add_argument(
        "--include-unknown",
        action="store_true",
        help="also messages sent without a final reply (they may arrive twice)",
    )
    p.set_defaults(func=cmd_retry)
    p = sub.add_parser("export", help="write a per-recipient CSV report")
    p.add_argument("id", type=int)
    p.add_argument("file")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("suppress", help="add addresses to the suppression list (or remove them)")
    p.add_argument("addresses", nargs="*")
    p.add_argument("--file", help="a CSV file or a list of addresses, one a line")
    p.add_argument("--reason", default="manual", help="unsubscribed, bounced, manual...")
    p.add_argument("--remove", action="store_true", help="remove them from the list")
    p.add_argument("--list", action="store_true", help="list the suppression list and why")
    p.add_argument("--json", action="store_true", help="with --list: print JSON")
    p.set_defaults(func=cmd_suppress)
    from smtpdesk.commands import campaign_actions, campaign_service  # the other actions

    campaign_actions.register(sub)
    campaign_service.register(sub)


def _register_create(sub: Any) -> None:
    p = sub.add_parser("create", help="create a campaign from a recipients file; prints its id")
    p.add_argument("--name", required=True)
    p.add_argument("--recipients", required=True, metavar="FILE", help="CSV or TSV with a header")
    p.add_argument("--address-column", help="the column with addresses (default: guessed)")
    p.add_argument("--subject", required=True)
    p.add_argument("--from", dest="from_address", required=True, metavar="ADDRESS")
    p.add_argument("--from-name", default="")
    p.add_argument("--reply-to", default="")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--html-file", metavar="F")
    body.add_argument("--markdown-file", metavar="F", help="Markdown (fields as {{ name }})")
    p.add_argument("--text-file", metavar="F", help="the text part (default: made from the body)")
    p.add_argument(
        "--layout",
        default="",
        metavar="NAME",
        help="a saved layout (smtpdesk template list); Markdown gets 'default' when none is named",
    )
    p.add_argument(
        "--inline-images",
        action="store_true",
        help="send images from local files (absolute paths in <img src>) inside the message",
    )
    p.add_argument("--attach", action="append", default=[], metavar="F")
    p.add_argument("--unsubscribe-mailto", default="", metavar="ADDRESS")
    p.add_argument("--unsubscribe-url", default="", metavar="URL")
    p.add_argument("--messenger", default=POOL_NAME, metavar="M")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--rate", type=float, help="messages per second")
    p.add_argument("--max-send-errors", type=int)
    p.add_argument(
        "--sliding-window",
        metavar="N/DURATION",
        help="at most N messages per duration, e.g. 1000/1h",
    )
    p.add_argument("--send-at", metavar="WHEN", help="ISO date and time, e.g. 2030-01-31T09:00")
    p.set_defaults(func=cmd_create)


def _attachments(paths: list[str]) -> tuple[str, ...]:
    """Each --attach as an absolute path (sending may start elsewhere), or exit 2."""
    problems = [f"--attach: {p} is not a readable file" for p in paths if not _readable(Path(p))]
    if problems:
        raise InvalidSettingsError(problems, "The campaign was not created")
    return tuple(str(Path(p).resolve()) for p in paths)


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return path.is_file()
    except OSError:
        return False


def _send_at(text: str | None) -> float | None:
    """--send-at as epoch seconds; a date without a zone is local time."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip()).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise BadInputError(
            f"--send-at: {text!r} is not a date and time.", "For example 2030-01-31T09:00."
        ) from exc
    if not math.isfinite(when):
        raise BadInputError(f"--send-at: {text!r} is not a date and time.")
    return when


def _format(args: argparse.Namespace) -> str:
    if args.markdown_file:
        return "markdown"
    return "html" if args.html_file else "text"


def cmd_create(args: argparse.Namespace) -> int:
    content = CampaignContent(
        subject=args.subject,
        from_address=args.from_address,
        from_name=args.from_name,
        reply_to=args.reply_to,
        html=read_file(args.html_file or args.markdown_file),
        text=read_file(args.text_file),
        format=_format(args),
        inline_images=args.inline_images,
        attachments=_attachments(args.attach),
        unsubscribe_mailto=args.unsubscribe_mailto,
        unsubscribe_url=args.unsubscribe_url,
    )
    send_at = _send_at(args.send_at)
    require_valid(content)  # everything is checked before anything is written
    store = store_from(args)
    try:
        content = with_layout(store, content, args.layout)
        store.require_writable()
        campaign_id, report = recipient_files.import_new_campaign(
            Ledger(store),
            args.name,
            content,
            args.recipients,
            args.address_column,
            messenger=args.messenger,
            send_at=send_at,
            concurrency=args.concurrency,
            message_rate=args.rate,
            max_send_errors=args.max_send_errors,
            **sliding_window(args.sliding_window),
        )
        findings = _review(store, campaign_id)
    except DBAPIError as exc:
        needed = 3 * Path(args.recipients).stat().st_size  # the rows, their index, the WAL
        raise storage_error(exc, store.folder, needed) or exc from exc
    finally:
        store.close()
    print_import(report)
    _print_review(findings)
    print(campaign_id)
    # The draft exists (its id is printed), but a script must see that it cannot be sent yet.
    return EXIT_STOPPED if findings.errors else EXIT_OK


def _review(store: Store, campaign_id: int) -> review.Review:
    """What the wizard's Review says about the stored campaign (its messages rendered)."""
    campaign = Ledger(store).campaign(campaign_id)
    return review.review(
        store, campaign_id, campaign.content, campaign.messenger, campaign.message_rate
    )


def _print_review(found: review.Review) -> None:
    if found.rendered is not None:
        print(str(found.rendered), file=sys.stderr)
    for error in found.errors:
        print(f"error: {error}", file=sys.stderr)
    for warning in found.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if found.errors:
        print("The campaign stays a draft until these are corrected.", file=sys.stderr)


def _require_addresses(addresses: list[str]) -> None:
    """Every address valid, or one line per bad one and nothing written."""
    problems = []
    for address in addresses:
        try:
            recipient_files.check_address(address.strip())
        except ValueError as exc:
            problems.append(f"{address!r} is not an email address: {exc}")
    if problems:
        raise InvalidSettingsError(problems, "The addresses were not suppressed")


def cmd_send(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        bar = None if args.no_progress else ProgressBar()
        runner = CampaignRunner(store, args.id, on_progress=bar)
        state = asyncio.run(_run(runner))
        if bar is not None:
            bar.end()
        _print_summary(runner, Ledger(store), args.id)
    return run_exit_code(state, runner.blocked)


async def _run(runner: CampaignRunner) -> CampaignState:
    with pause_on_signals(runner):
        return await runner.run()


def _print_summary(runner: CampaignRunner, ledger: Ledger, campaign_id: int) -> None:
    counts = ledger.counts(campaign_id)
    campaign = ledger.campaign(campaign_id)
    reason = f": {campaign.pause_reason}" if campaign.pause_reason else ""
    print(
        f"campaign {campaign_id} {campaign.state}{reason}; sent {counts.sent}, "
        f"failed {counts.failed}, skipped {counts.skipped}, pending {counts.pending}"
        + (f", unknown {counts.unknown}" if counts.unknown else "")
    )
    progress = runner.progress()
    for group in progress.errors if progress else ():
        print(f"  {group.count} x {group.title} [{group.cause}]: {group.message}")
        print(f"      e.g. {', '.join(group.samples)}")
        for hint in group.hints:
            print(f"      hint: {hint}")


def cmd_status(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        ledger = Ledger(store)
        campaign = ledger.campaign(args.id)
        counts = ledger.counts(args.id)
        feedback = FeedbackBook(store).campaign_counts(args.id)  # from the mailbox (issue 12)
    state, reason = str(campaign.state), campaign.pause_reason
    if campaign.interrupted:  # stored as running, but its process is gone (kill -9, crash)
        state = "interrupted"
        reason = (
            "the process sending it stopped without pausing (killed or crashed); "
            f"'smtpdesk campaign resume {campaign.id}' goes on"
        )
    data = {
        "id": campaign.id,
        "name": campaign.name,
        "state": state,
        "pause_reason": reason,
        **counts.to_dict(),
        **feedback,
        "messenger": campaign.messenger,
        "send_at": campaign.send_at,
        "started_at": campaign.started_at,
        "finished_at": campaign.finished_at,
    }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {'' if value is None else value}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        ledger = Ledger(store)
        rows = [(c, ledger.counts(c.id)) for c in ledger.list_campaigns()]
    for campaign, counts in rows:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(campaign.created_at))
        print(
            f"{campaign.id}\t{effective_state(campaign)}\t{counts.sent}/{counts.total}\t"
            f"{created}\t{campaign.name}"
        )
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        ledger = Ledger(store)
        count = ledger.retry_failed(
            args.id, temporary_only=not args.all, include_unknown=args.include_unknown
        )
        running = ledger.runner_active(args.id)
    if running:
        print(f"{count} recipients will be sent again by the run that is sending the campaign.")
    else:
        print(f"{count} recipients will be sent again; run 'smtpdesk campaign resume {args.id}'.")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        count = Ledger(store).export_csv(args.id, args.file)
    print(f"{count} recipients written to {args.file}", file=sys.stderr)
    return EXIT_OK


def cmd_suppress(args: argparse.Namespace) -> int:
    if args.list:
        return _list_suppressions(args)
    if not args.remove:
        _require_addresses(args.addresses)
    with store_from(args) as store:
        suppressions = SuppressionList(store)
        if args.remove:
            count = suppressions.unsuppress(args.addresses)
        else:
            count = suppressions.suppress(args.addresses, args.reason)
            if args.file:
                count += suppressions.import_suppressions(args.file, args.reason)
    print(f"{count} addresses {'removed' if args.remove else 'suppressed'}", file=sys.stderr)
    return EXIT_OK


def _list_suppressions(args: argparse.Namespace) -> int:
    """address, reason, when (and from which message), as text or JSON."""
    if args.addresses or args.file or args.remove:
        raise BadInputError("--list takes no addresses, --file or --remove.")
    with store_from(args) as store:
        found = SuppressionList(store).suppressed()
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in found], indent=2))
        return EXIT_OK
    for item in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.added_at))
        print(f"{item.email}\t{item.reason}\t{when}" + (f"\t{item.source}" if item.source else ""))
    return EXIT_OK
