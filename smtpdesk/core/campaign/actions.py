"""What a user may do with a campaign, decided from its stored state, and the actions themselves.

The GUI's list, live panel and menus and the CLI all ask :func:`allowed_actions` what
to offer, and go through the functions here to act, so a campaign left paused by a
previous run of the app, or sent by another process, is treated the same everywhere.
A finished or cancelled campaign is final: it is never resumed or cancelled (Retry
failed, which makes its failed recipients pending again, is the one way back).

Everything here is blocking SQLite: the GUI calls it through the bridge's threads.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Campaign, CampaignState, Counts, Ledger, lease_alive
from smtpdesk.core.errors import KnownError
from smtpdesk.core.wording import counted

INTERRUPTED = "interrupted"  # stored as running or scheduled, but no live process holds it
COPY_BATCH = 5000
_DELIVERY = (
    "messenger",
    "concurrency",
    "message_rate",
    "sliding_window",
    "sliding_window_rate",
    "sliding_window_duration",
    "max_send_errors",
)


class Action(StrEnum):
    START = "start"  # start a draft, resume a paused or interrupted one, wait for a schedule
    PAUSE = "pause"
    CANCEL = "cancel"
    RETRY_FAILED = "retry_failed"
    EDIT = "edit"
    DUPLICATE = "duplicate"
    DELETE = "delete"


class Sender(StrEnum):
    NONE = ""
    HERE = "here"  # this process
    ELSEWHERE = "elsewhere"  # another live process (the CLI, another window)


@dataclass(frozen=True)
class CampaignStatus:
    """A campaign as stored, with its counts and who, if anyone, is sending it now."""

    campaign: Campaign
    counts: Counts
    sender: Sender
    # Sent by another process whose channel (core/service) answers: Pause and Cancel go there.
    reachable: bool = False

    @property
    def id(self) -> int:
        return self.campaign.id

    @property
    def state(self) -> str:
        """The stored state, or ``interrupted`` for a run whose process is gone."""
        return effective_state(self.campaign)

    def allowed(self, *, sending_here: bool = False) -> frozenset[Action]:
        sender = Sender.HERE if sending_here else self.sender
        counts = self.counts
        retryable = counts.failed + counts.unknown
        untouched = not (counts.sent or counts.sending or retryable)
        return allowed_actions(
            self.state,
            sender=sender,
            failed=retryable,
            untouched=untouched,
            reachable=self.reachable,
        )


def effective_state(campaign: Campaign) -> str:
    """``interrupted`` when the ledger says running but its sender's lease has lapsed."""
    return INTERRUPTED if campaign.interrupted else str(campaign.state)


def sender_of(campaign: Campaign, pid: int | None = None) -> Sender:
    if campaign.state == CampaignState.IMPORTING:
        return Sender.NONE  # its importer holds it, not a sender
    if not lease_alive(campaign.runner_pid, campaign.runner_heartbeat):
        return Sender.NONE
    return Sender.HERE if campaign.runner_pid == (pid or os.getpid()) else Sender.ELSEWHERE


def allowed_actions(
    state: str,
    *,
    sender: Sender = Sender.NONE,
    failed: int = 0,
    untouched: bool = False,
    reachable: bool = False,
) -> frozenset[Action]:
    """The actions a campaign in ``state`` offers; ``sender`` says who is sending it now.

    ``untouched``: no message of it has gone out yet. A campaign paused so (quitting the
    app while it waited for its time, say) can still be edited like a scheduled one.
    ``reachable``: another process sends it and its channel answers (``campaign serve``):
    it can be paused and cancelled from here, through that channel.
    """
    if state == CampaignState.IMPORTING:
        return frozenset()  # being created: nothing until its import ends
    if sender == Sender.ELSEWHERE and reachable:
        return frozenset({Action.PAUSE, Action.CANCEL, Action.DUPLICATE})
    if sender == Sender.ELSEWHERE:
        return frozenset({Action.DUPLICATE})
    if sender == Sender.HERE:
        return frozenset({Action.PAUSE, Action.CANCEL, Action.DUPLICATE})
    allowed = {Action.DUPLICATE}
    if state == CampaignState.DRAFT:
        allowed |= {Action.START, Action.EDIT, Action.DELETE}
    elif state == CampaignState.SCHEDULED:
        allowed |= {Action.START, Action.EDIT, Action.CANCEL}
    elif state in (CampaignState.PAUSED, INTERRUPTED):
        allowed |= {Action.START, Action.CANCEL, *([Action.EDIT] if untouched else [])}
    elif state in (CampaignState.FINISHED, CampaignState.CANCELLED):
        allowed |= {Action.DELETE}
    if failed and state in (CampaignState.PAUSED, INTERRUPTED, CampaignState.FINISHED):
        allowed.add(Action.RETRY_FAILED)
    return frozenset(allowed)


_REFUSED = {
    Action.START: "cannot be sent",
    Action.PAUSE: "is not being sent here",
    Action.CANCEL: "cannot be cancelled",
    Action.RETRY_FAILED: "has no failed recipients to retry",
    Action.EDIT: "cannot be edited: only a draft, a scheduled campaign or one paused before "
    "it sent anything can",
    Action.DELETE: "cannot be deleted: only a draft, finished or cancelled campaign can",
}


def campaign_status(ledger: Ledger, campaign_id: int) -> CampaignStatus:
    return _status(ledger, ledger.campaign(campaign_id))


def list_statuses(ledger: Ledger) -> list[CampaignStatus]:
    """Every campaign, newest first."""
    return [_status(ledger, c) for c in reversed(ledger.list_campaigns())]


def _status(ledger: Ledger, campaign: Campaign) -> CampaignStatus:
    sender = sender_of(campaign)
    reachable = sender == Sender.ELSEWHERE and _reachable(ledger, campaign)
    return CampaignStatus(campaign, ledger.counts(campaign.id), sender, reachable)


def _reachable(ledger: Ledger, campaign: Campaign) -> bool:
    """Whether the process holding the campaign's lease has a channel (``campaign serve``)."""
    from smtpdesk.core.service.follower import sender_channel

    info = sender_channel(campaign.id, folder=ledger.store.folder)
    return info is not None and info.pid == campaign.runner_pid


def unfinished(ledger: Ledger) -> list[CampaignStatus]:
    """Campaigns paused or interrupted that nobody is sending: what to offer to resume."""
    return [
        s
        for s in list_statuses(ledger)
        if s.state in (CampaignState.PAUSED, INTERRUPTED) and s.sender == Sender.NONE
    ]


def require(status: CampaignStatus, action: Action) -> None:
    """Raise a KnownError saying why ``action`` is refused, if it is."""
    if action in status.allowed():
        return
    name = f"Campaign {status.id} ({status.campaign.name})"
    if status.sender == Sender.ELSEWHERE:
        raise KnownError(
            f"{name} is being sent by another process ({status.campaign.runner_pid}).",
            "Pause it there first.",
        )
    if status.sender == Sender.HERE:
        raise KnownError(f"{name} is being sent.", "Pause it first.")
    raise KnownError(
        f"{name} is {status.state} and {_REFUSED.get(action, 'cannot do that')}.",
        "Duplicate it to send the same message again." if action != Action.DUPLICATE else "",
    )


def cancel_consequence(counts: Counts) -> str:
    """What cancelling does, in words, for the confirmation prompt."""
    left = counts.pending + counts.sending
    return (
        f"{counted(left, 'recipient')} not sent yet will never get this message; the "
        f"{counts.sent:,} already sent stay in the report. A cancelled campaign cannot be "
        "resumed (duplicate it to send again)."
    )


def cancel_campaign(ledger: Ledger, campaign_id: int) -> None:
    """Cancel a campaign nobody is sending (a running one is cancelled through its runner,
    or its sending process's channel: ``core.service.follower.request``)."""
    status = campaign_status(ledger, campaign_id)
    require(status, Action.CANCEL)
    if status.sender != Sender.NONE:
        raise KnownError(
            f"Campaign {campaign_id} is being sent: it is cancelled by the process sending it.",
            f"Run 'smtpdesk campaign cancel {campaign_id}'.",
        )
    ledger.set_state(campaign_id, CampaignState.CANCELLED, "cancelled by the user")


def retry_failed(ledger: Ledger, campaign_id: int, *, include_unknown: bool = False) -> int:
    """Make every failed recipient pending again; the campaign is then paused, ready to resume.

    ``include_unknown`` also the recipients sent without a final reply (they may get the
    message twice).
    """
    require(campaign_status(ledger, campaign_id), Action.RETRY_FAILED)
    return ledger.retry_failed(campaign_id, temporary_only=False, include_unknown=include_unknown)


def delete_campaign(ledger: Ledger, campaign_id: int) -> None:
    """Delete a draft, finished or cancelled campaign with its recipients (its ledger)."""
    require(campaign_status(ledger, campaign_id), Action.DELETE)
    ledger.delete_campaign(campaign_id)


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


def edit_campaign(
    ledger: Ledger,
    campaign_id: int,
    *,
    name: str | None = None,
    content: Mapping[str, Any] | None = None,
    send_at: float | None = UNCHANGED,
    **delivery: Any,
) -> Campaign:
    """Change a draft or scheduled campaign (or one paused before it sent anything): name,
    content fields, delivery settings, schedule.

    ``content`` holds only the fields that change (``subject``, ``html``...); ``delivery``
    the messenger and sending settings; ``send_at=None`` removes the schedule.
    """
    status = campaign_status(ledger, campaign_id)
    require(status, Action.EDIT)
    unknown = set(delivery) - set(_DELIVERY)
    if unknown:
        raise TypeError(f"unknown delivery settings: {sorted(unknown)}")
    changes: dict[str, Any] = {k: v for k, v in delivery.items() if v is not None}
    if name is not None:
        if not name.strip():
            raise KnownError("The campaign needs a name.")
        changes["name"] = name.strip()
    if content:
        changes["content"] = dataclasses.replace(status.campaign.content, **content)
    if send_at is not UNCHANGED:
        changes["send_at"] = send_at
    if changes:
        ledger.update_campaign(campaign_id, **changes)
    return ledger.campaign(campaign_id)


@dataclass(frozen=True)
class Duplicate:
    campaign_id: int
    recipients: int  # how many the copy has
    report: Any = None  # the ImportReport when the recipients came from a new file


def duplicate_campaign(
    ledger: Ledger,
    campaign_id: int,
    *,
    name: str | None = None,
    recipients_file: str | Path | None = None,
    address_column: str | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> Duplicate:
    """A new draft with the campaign's content and delivery settings (not its schedule).

    Its recipients are the original's, all pending again, or those of ``recipients_file``.
    """
    original = ledger.campaign(campaign_id)
    copy_id = ledger.create_campaign(
        name or f"{original.name} (copy)",
        _content_or_none(original.content),
        importing=True,  # a kill before the end leaves nothing (removed at the next start)
        **{k: getattr(original, k) for k in _DELIVERY},
    )
    try:
        if recipients_file is not None:
            from smtpdesk.core.campaign.recipients import import_file

            report = import_file(ledger, copy_id, recipients_file, address_column, on_progress)
            copy = Duplicate(copy_id, report.valid, report)
        else:
            copy = Duplicate(copy_id, _copy_recipients(ledger, campaign_id, copy_id))
        ledger.finish_import(copy_id)
    except BaseException:
        ledger.delete_campaign(copy_id)
        raise
    return copy


def _content_or_none(content: CampaignContent) -> CampaignContent | None:
    # A draft saved before its content was complete is copied as a draft without content.
    from smtpdesk.core.campaign.content import validate_content

    errors = [p for p in validate_content(content) if p.severity == "error"]
    return None if errors else content


def _copy_recipients(ledger: Ledger, source: int, target: int) -> int:
    count, batch = 0, []
    for line, email, fields in ledger.iter_fields(source, COPY_BATCH):
        batch.append({"line": line, "email": email, "fields": fields})
        if len(batch) >= COPY_BATCH:
            ledger.insert_recipients(target, batch)
            count += len(batch)
            batch = []
    ledger.insert_recipients(target, batch)
    ledger.add_fields(target, ledger.campaign(source).fields)
    return count + len(batch)
