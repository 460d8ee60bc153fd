"""``smtpdesk campaign serve|follow|pause|cancel``: a sending process and its channel.

``serve`` sends a campaign as ``send`` does, and listens on 127.0.0.1 for followers (the
GUI starts it in a process of its own, see ``core/service``). ``follow`` shows the progress
of a campaign sent so by another process; ``pause`` and ``cancel`` go to that process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from smtpdesk.commands.campaign_io import EXIT_OK, ProgressBar, run_exit_code
from smtpdesk.commands.common import store_from
from smtpdesk.core.campaign import actions
from smtpdesk.core.campaign.ledger import USER_PAUSE, Ledger
from smtpdesk.core.errors import KnownError
from smtpdesk.core.logs import install_file_log
from smtpdesk.core.service import follower as service
from smtpdesk.core.service.channel import senders_folder
from smtpdesk.core.service.sender import serve


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="send a campaign and let others follow, pause or cancel it (the GUI's way)"
    )
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("follow", help="show the progress of a campaign another process sends")
    p.add_argument("id", type=int)
    p.add_argument("--no-progress", action="store_true", help="no progress bar, only the end")
    p.set_defaults(func=cmd_follow)
    p = sub.add_parser("pause", help="pause a campaign that another process is sending")
    p.add_argument("id", type=int)
    p.add_argument("--reason", default=USER_PAUSE, help="shown as the pause reason")
    p.set_defaults(func=cmd_pause)
    p = sub.add_parser(
        "cancel", help="cancel a campaign (sent by another process, paused or scheduled)"
    )
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_cancel)


def cmd_serve(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        # A log of its own: the app (and other senders) rotating smtpdesk.log at the same
        # time as this process would clobber each other's lines.
        with contextlib.suppress(OSError):
            install_file_log(senders_folder(store.folder), name=f"{args.id}.log")
        state, runner = asyncio.run(serve(store, args.id))
    return run_exit_code(state, runner.blocked)


def _folder_and_status(args: argparse.Namespace) -> actions.CampaignStatus:
    """The campaign as stored (NotFoundError, exit 2, for a bad id)."""
    with store_from(args) as store:
        args.folder = store.folder
        return actions.campaign_status(Ledger(store), args.id)


def _not_sent(status: actions.CampaignStatus) -> KnownError:
    if status.sender == actions.Sender.ELSEWHERE:
        pid = status.campaign.runner_pid
        return KnownError(
            f"Campaign {status.id} is being sent by process {pid}, which takes no requests "
            "('campaign send').",
            f"Press Ctrl-C in its terminal, or run 'kill -TERM {pid}'.",
        )
    return KnownError(f"Campaign {status.id} is not being sent (it is {status.state}).")


def cmd_pause(args: argparse.Namespace) -> int:
    status = _folder_and_status(args)
    if not asyncio.run(service.request(args.id, "pause", args.reason, folder=args.folder)):
        raise _not_sent(status)
    print(f"campaign {args.id}: pausing (the messages in flight finish first)", file=sys.stderr)
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    status = _folder_and_status(args)
    if asyncio.run(service.request(args.id, "cancel", folder=args.folder)):
        print(
            f"campaign {args.id}: cancelling (the messages in flight finish first)", file=sys.stderr
        )
        return EXIT_OK
    if status.sender == actions.Sender.ELSEWHERE:
        raise _not_sent(status)
    with store_from(args) as store:
        actions.cancel_campaign(Ledger(store), args.id)  # nobody sends it: refused if final
    print(f"campaign {args.id} cancelled", file=sys.stderr)
    return EXIT_OK


def cmd_follow(args: argparse.Namespace) -> int:
    status = _folder_and_status(args)
    bar = None if args.no_progress else ProgressBar()
    end = asyncio.run(_follow(args.id, args.folder, bar))
    if bar is not None:
        bar.end()
    if end is None:
        raise _not_sent(status)
    if isinstance(end, service.FailedEvent):
        raise KnownError(end.message, end.hint)
    if isinstance(end, str):  # the channel closed without an end
        raise KnownError(
            f"The process sending campaign {args.id} stopped without pausing (killed or crashed).",
            f"'smtpdesk campaign resume {args.id}' goes on.",
        )
    reason = f": {end.reason}" if end.reason else ""
    print(f"campaign {args.id} {end.state}{reason}")
    return run_exit_code(end.state, end.blocked)


async def _follow(
    campaign_id: int, folder: Path, bar: ProgressBar | None
) -> service.EndedEvent | service.FailedEvent | str | None:
    """The end the sender told, ``"lost"`` if its channel closed without one, None if
    nobody sends the campaign through a channel."""
    follower = await service.follow(campaign_id, folder=folder)
    if follower is None:
        return None
    try:
        async for event in follower.events():
            if isinstance(event, service.ProgressEvent):
                if bar is not None:
                    bar(event.progress)
            else:
                return event
        return "lost"
    finally:
        await follower.close()
