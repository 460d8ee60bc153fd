"""``smtpdesk campaign edit|duplicate|delete``: the GUI's campaign actions, from the same core.

Each calls one function of ``core.campaign.actions``, which refuses what the campaign's
stored state does not allow (editing a paused campaign, deleting one not finished...).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from smtpdesk.commands.campaign_io import print_import, read_file, sliding_window
from smtpdesk.commands.common import store_from
from smtpdesk.core.campaign import actions
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.errors import KnownError

EXIT_OK, EXIT_DECLINED = 0, 1
CONTENT_OPTIONS = {  # option dest -> CampaignContent field
    "subject": "subject",
    "from_address": "from_address",
    "from_name": "from_name",
    "reply_to": "reply_to",
    "unsubscribe_mailto": "unsubscribe_mailto",
    "unsubscribe_url": "unsubscribe_url",
}


def register(sub: Any) -> None:
    _register_edit(sub)
    p = sub.add_parser(
        "duplicate",
        help="copy a campaign (content, delivery settings) as a new draft; prints its id",
    )
    p.add_argument("id", type=int)
    p.add_argument("--name", help="default: the original's name with (copy)")
    p.add_argument(
        "--recipients", metavar="FILE", help="recipients from this file (default: the same ones)"
    )
    p.add_argument("--address-column", help="with --recipients: the column with addresses")
    p.set_defaults(func=cmd_duplicate)
    p = sub.add_parser(
        "delete", help="delete a draft, finished or cancelled campaign and its recipients"
    )
    p.add_argument("id", type=int)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)


def _register_edit(sub: Any) -> None:
    p = sub.add_parser("edit", help="change a draft or scheduled campaign")
    p.add_argument("id", type=int)
    p.add_argument("--name")
    p.add_argument("--subject")
    p.add_argument("--from", dest="from_address", metavar="ADDRESS")
    p.add_argument("--from-name")
    p.add_argument("--reply-to")
    p.add_argument("--html-file", metavar="F")
    p.add_argument("--text-file", metavar="F")
    p.add_argument("--attach", action="append", metavar="F", help="replaces the attachments")
    p.add_argument("--no-attachments", action="store_true")
    p.add_argument("--unsubscribe-mailto", metavar="ADDRESS")
    p.add_argument("--unsubscribe-url", metavar="URL")
    p.add_argument("--messenger", metavar="M")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--rate", type=float, help="messages per second")
    p.add_argument("--max-send-errors", type=int)
    p.add_argument("--sliding-window", metavar="N/DURATION", help="e.g. 1000/1h")
    p.add_argument("--no-sliding-window", action="store_true")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--send-at", metavar="WHEN", help="ISO date and time, e.g. 2030-01-31T09:00")
    when.add_argument("--send-now", action="store_true", help="remove the schedule")
    p.set_defaults(func=cmd_edit)


def _content_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes = {
        field: getattr(args, dest)
        for dest, field in CONTENT_OPTIONS.items()
        if getattr(args, dest) is not None
    }
    if args.html_file is not None:
        changes["html"] = read_file(args.html_file)
    if args.text_file is not None:
        changes["text"] = read_file(args.text_file)
    if args.no_attachments:
        changes["attachments"] = ()
    elif args.attach:
        changes["attachments"] = tuple(args.attach)
    return changes


def _delivery_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "messenger": args.messenger,
        "concurrency": args.concurrency,
        "message_rate": args.rate,
        "max_send_errors": args.max_send_errors,
    }
    if args.no_sliding_window:
        changes["sliding_window"] = False
    else:
        changes.update(sliding_window(args.sliding_window))
    return {k: v for k, v in changes.items() if v is not None}


def _schedule(args: argparse.Namespace) -> dict[str, Any]:
    if args.send_now:
        return {"send_at": None}
    if args.send_at is None:
        return {}
    try:
        return {"send_at": datetime.fromisoformat(args.send_at.strip()).timestamp()}
    except (ValueError, OverflowError, OSError) as exc:
        raise KnownError(
            f"--send-at: {args.send_at!r} is not a date and time.", "For example 2030-01-31T09:00."
        ) from exc


def cmd_edit(args: argparse.Namespace) -> int:
    content = _content_changes(args)
    delivery = _delivery_changes(args)
    schedule = _schedule(args)
    changed = [*content, *delivery, *schedule] + (["name"] if args.name is not None else [])
    if not changed:
        print("error: nothing to change: give at least one option (see --help)", file=sys.stderr)
        return 2  # bad input, like every other (issue 9)
    with store_from(args) as store:
        campaign = actions.edit_campaign(
            Ledger(store), args.id, name=args.name, content=content, **schedule, **delivery
        )
    print(f"campaign {campaign.id} ({campaign.state}) updated: {', '.join(sorted(changed))}")
    return EXIT_OK


def cmd_duplicate(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        copy = actions.duplicate_campaign(
            Ledger(store),
            args.id,
            name=args.name,
            recipients_file=args.recipients,
            address_column=args.address_column,
        )
    if copy.report is not None:
        print_import(copy.report)
    else:
        print(f"{copy.recipients} recipients copied", file=sys.stderr)
    print(copy.campaign_id)
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        ledger = Ledger(store)
        status = actions.campaign_status(ledger, args.id)
        actions.require(status, actions.Action.DELETE)  # refuse before asking
        if not args.yes and not _confirmed(status):
            return EXIT_DECLINED
        actions.delete_campaign(ledger, args.id)
    print(f"campaign {args.id} deleted with its {status.counts.total} recipients", file=sys.stderr)
    return EXIT_OK


def _confirmed(status: actions.CampaignStatus) -> bool:
    question = (
        f"Delete campaign {status.id} {status.campaign.name!r} ({status.state}) and the report "
        f"of its {status.counts.total} recipients? This cannot be undone. [y/N] "
    )
    if not sys.stdin.isatty():
        print(
            "error: not deleted: confirm with --yes (there is no terminal to ask)", file=sys.stderr
        )
        return False
    print(question, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")
