"""The delivery ledger in SQLite: campaigns, each recipient's state, the suppression list.

A recipient is ``sending`` (committed) before its message leaves and ``sent`` only
after the server accepted the DATA, so after a crash only the ``sending`` ones can
have been delivered without being recorded: those are sent again, nothing else.
While a run sends, the engine's writes go through
:class:`smtpdesk.core.campaign.writer.LedgerWriter`, which commits outcomes in batches;
its calls before and after that (the campaign, the lease, the final state) run through
``asyncio.to_thread``. Everything here is blocking SQLite and is called in a thread by
async code.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update

from smtpdesk.core.campaign.content import CampaignContent, require_valid
from smtpdesk.core.errors import InvalidSettingsError, KnownError, NotFoundError
from smtpdesk.core.paths import open_private
from smtpdesk.core.settings import (
    CAMPAIGN_FIELDS,
    POOL_NAME,
    AppSettings,
    parse_app_settings,
)
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import campaigns, recipients


class RecipientState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    # The message went out (DATA sent) but the server's final reply never came: it may
    # have been delivered. Not sent again unless asked (retry_failed include_unknown).
    UNKNOWN = "unknown"


USER_PAUSE = "paused by the user"  # the pause reason of Pause (GUI, CLI, the channel)


class CampaignState(StrEnum):
    IMPORTING = "importing"  # being created: never sent; removed if its import is cut short
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # waiting for send_at
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    state: CampaignState
    pause_reason: str
    content: CampaignContent
    messenger: str
    concurrency: int
    message_rate: float
    sliding_window: bool
    sliding_window_rate: int
    sliding_window_duration: float
    max_send_errors: int
    send_at: float | None
    fields: tuple[str, ...]
    created_at: float
    started_at: float | None
    finished_at: float | None
    runner_pid: int | None
    runner_heartbeat: float | None = None  # the runner's last lease renewal (epoch seconds)

    @property
    def interrupted(self) -> bool:
        """Stored as running (or scheduled) but no live process holds its lease any more."""
        active = self.state in (CampaignState.RUNNING, CampaignState.SCHEDULED)
        return active and not lease_alive(self.runner_pid, self.runner_heartbeat)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["state"] = str(self.state)
        data["content"] = self.content.to_dict()
        data["fields"] = list(self.fields)
        return data


@dataclass(frozen=True)
class Counts:
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0  # sent, but the server's final reply never came

    @property
    def total(self) -> int:
        return self.pending + self.sending + self.done

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped + self.unknown

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class Recipient:
    id: int
    campaign_id: int
    line: int
    email: str
    fields: dict[str, Any]
    state: RecipientState
    attempts: int
    error: str
    cause: str
    temporary: bool
    server_uuid: str
    sent_at: float | None
    reply: str
    # issue 12: what the feedback mailbox learnt after the send
    message_id: str | None = None
    token: str | None = None
    feedback: str = ""  # bounced, complained, unsubscribed
    feedback_kind: str = ""  # hard, soft (bounced)
    feedback_at: float | None = None
    feedback_status: str = ""  # the raw status or report text


@dataclass(frozen=True)
class Outcome:
    """One recipient's new state, as the engine hands it to the writer."""

    recipient_id: int
    state: RecipientState
    attempts: int = 0  # added to the stored count
    error: str = ""
    cause: str = ""
    temporary: bool = False
    server_uuid: str = ""
    sent_at: float | None = None
    reply: str = ""
    # issue 12: the Message-ID sent and the signed token, to match replies and bounces;
    # None keeps what is stored
    message_id: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class CauseCount:
    """The failed (or unknown) recipients of one stored cause: what a restart shows of them."""

    cause: str
    count: int
    temporary: bool  # some of them failed temporarily: a retry may succeed
    samples: tuple[str, ...]  # the first recipients, in import order
    latest: str  # the stored error text of the last one


_APP_FIELDS = CAMPAIGN_FIELDS  # the app settings each campaign keeps its own copy of
EXPORT_COLUMNS = (
    "line",
    "email",
    "state",
    "attempts",
    "sent_at",
    "server_uuid",
    "reply",
    "cause",
    "temporary",
    "error",
    "feedback",  # issue 12: bounced, complained, unsubscribed (from the mailbox)
    "feedback_kind",
    "feedback_at",
    "feedback_status",
)


# The engine's claims, as plain SQL on the driver (ids, addresses and the JSON fields).
_CLAIM = (
    "SELECT id, email, fields FROM recipients WHERE campaign_id = ? AND state = 'pending' "
    "AND id > ? ORDER BY id LIMIT ?"
)
_MARK_SENDING = (
    "UPDATE recipients SET state = 'sending' "
    "WHERE campaign_id = ? AND state = 'pending' AND id BETWEEN ? AND ?"
)
# The engine's outcomes, as one executemany of plain tuples on the driver: compiling and
# binding through SQLAlchemy cost more CPU per row than SQLite's update itself.
_UPDATE = (
    "UPDATE recipients SET state = ?, attempts = attempts + ?, error = ?, cause = ?, "
    "temporary = ?, server_uuid = ?, sent_at = ?, reply = ?, "
    "message_id = coalesce(?, message_id), token = coalesce(?, token) WHERE id = ?"
)


_FIRST_LACKING = text(
    "SELECT line, email FROM recipients WHERE campaign_id = :campaign AND NOT EXISTS "
    "(SELECT 1 FROM json_each(recipients.fields) WHERE json_each.key = :name) "
    "ORDER BY id LIMIT 1"
)


def _campaign(row: Any) -> Campaign:
    data = dict(row._mapping)
    data.pop("field_counts", None)
    data["state"] = CampaignState(data["state"])
    data["content"] = CampaignContent.from_dict(data["content"])
    data["fields"] = tuple(data["fields"])
    return Campaign(**data)


def _recipient(row: Any) -> Recipient:
    data = dict(row._mapping)
    data["state"] = RecipientState(data["state"])
    return Recipient(**data)


def _taken(campaign_id: int, owner: int | None) -> KnownError:
    return KnownError(
        f"Campaign {campaign_id} is being sent by another process ({owner}).",
        "Wait for it to finish or pause it there. If that process was killed, its claim "
        f"lapses {LEASE_SECONDS:g} s after its last sign of life: try again then.",
    )


LEASE_SECONDS = 30.0  # a runner's lease not renewed for this long: the runner is gone
HEARTBEAT_SECONDS = 5.0  # how often a runner renews it


def lease_alive(pid: int | None, heartbeat: float | None, now: float | None = None) -> bool:
    """Whether the runner ``pid`` that renewed its lease at ``heartbeat`` may still be sending.

    The lease decides on every platform. Where a process can be probed without side
    effects (POSIX), a dead ``pid`` ends the lease at once, so a campaign killed with
    SIGKILL can be resumed straight away rather than after ``LEASE_SECONDS``.
    """
    if pid is None or heartbeat is None:
        return False
    if (now if now is not None else time.time()) - heartbeat > LEASE_SECONDS:
        return False
    return pid == os.getpid() or pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """False only when ``pid`` is surely gone; True where that cannot be told (Windows).

    On Windows ``os.kill(pid, 0)`` would send CTRL_C_EVENT, so it is never called there.
    """
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """Typed, blocking access to campaigns and recipients in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # --- campaigns ---------------------------------------------------------------------

    def create_campaign(
        self,
        name: str,
        content: CampaignContent | None,
        *,
        messenger: str = POOL_NAME,
        send_at: float | None = None,
        importing: bool = False,
        **settings: Any,
    ) -> int:
        """A new draft campaign; ``settings`` (concurrency, message_rate, ...) over the app's.

        ``content`` must pass :func:`validate_content` (InvalidSettingsError lists each
        problem); None makes a draft whose content comes later through ``update_campaign``.
        ``importing``: the campaign stays ``importing`` (owned by this process, never sent)
        until :meth:`finish_import`; if the process dies first, the next store open
        removes it (:meth:`discard_abandoned_imports`).
        """
        values = self._settings(settings, self.store.app_settings())
        if not name.strip():
            raise KnownError("The campaign needs a name.")
        if content is not None:
            require_valid(content)
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(campaigns).values(
                    name=name.strip(),
                    state=CampaignState.IMPORTING if importing else CampaignState.DRAFT,
                    runner_pid=os.getpid() if importing else None,
                    runner_heartbeat=time.time() if importing else None,
                    pause_reason="",
                    content=(content or CampaignContent("", "")).to_dict(),
                    messenger=messenger,
                    send_at=send_at,
                    fields=[],
                    field_counts={},
                    created_at=time.time(),
                    **values,
                )
            )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish_import(self, campaign_id: int) -> None:
        """The import is complete: the campaign becomes a normal draft."""
        with self.engine.begin() as conn:
            conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id, campaigns.c.state == CampaignState.IMPORTING)
                .values(state=CampaignState.DRAFT, runner_pid=None, runner_heartbeat=None)
            )

    def discard_abandoned_imports(self) -> int:
        """Delete the campaigns left ``importing`` by a process that is gone.

        Where a pid can be probed (POSIX) a dead importer is gone at once, however long
        its import; elsewhere its lease (renewed by each batch of the import) tells.
        """
        query = select(campaigns.c.id, campaigns.c.runner_pid, campaigns.c.runner_heartbeat).where(
            campaigns.c.state == CampaignState.IMPORTING
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).all()
        gone = [
            row.id
            for row in found
            if row.runner_pid is None
            or not (
                pid_alive(row.runner_pid)
                if os.name == "posix"
                else lease_alive(row.runner_pid, row.runner_heartbeat)
            )
        ]
        for campaign_id in gone:
            self.delete_campaign(campaign_id)
        return len(gone)

    @staticmethod
    def _settings(changes: dict[str, Any], base: AppSettings) -> dict[str, Any]:
        unknown = set(changes) - set(_APP_FIELDS)
        if unknown:
            raise TypeError(f"unknown campaign settings: {sorted(unknown)}")
        report = parse_app_settings({k: v for k, v in changes.items() if v is not None}, base)
        if report.settings is None:
            raise InvalidSettingsError(report.errors, "The campaign settings are not valid")
        return {k: v for k, v in report.settings.to_dict().items() if k in _APP_FIELDS}

    def update_campaign(self, campaign_id: int, **changes: Any) -> None:
        """Change settings, content (a CampaignContent), name, messenger or send_at."""
        current = self.campaign(campaign_id)
        values: dict[str, Any] = {}
        app = {k: changes.pop(k) for k in list(changes) if k in _APP_FIELDS}
        if app:
            base = AppSettings(**{k: getattr(current, k) for k in _APP_FIELDS})
            values.update(self._settings(app, base))
        if "content" in changes:
            content = changes.pop("content")
            require_valid(content)
            values["content"] = content.to_dict()
        values.update(changes)
        with self.engine.begin() as conn:
            conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(values))

    def campaign(self, campaign_id: int) -> Campaign:
        row = None
        if 0 < campaign_id < 2**63:  # beyond, SQLite cannot even compare it: none such
            with self.engine.connect() as conn:
                row = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()
        if row is None:
            raise NotFoundError(
                f"There is no campaign {campaign_id}.", "Run 'smtpdesk campaign list' to see them."
            )
        return _campaign(row)

    def list_campaigns(self) -> list[Campaign]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(campaigns).order_by(campaigns.c.id)).all()
        return [_campaign(r) for r in rows]

    def delete_campaign(self, campaign_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(recipients).where(recipients.c.campaign_id == campaign_id))
            conn.execute(delete(campaigns).where(campaigns.c.id == campaign_id))

    def set_state(self, campaign_id: int, state: CampaignState, reason: str = "") -> None:
        values: dict[str, Any] = {"state": state, "pause_reason": reason}
        if state == CampaignState.RUNNING:
            values["started_at"] = func.coalesce(campaigns.c.started_at, time.time())
        if state in (CampaignState.FINISHED, CampaignState.CANCELLED):
            values["finished_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(values))

    def claim_runner(self, campaign_id: int, pid: int) -> None:
        """Take the campaign's lease for process ``pid``, or refuse if another live one holds it."""
        current = self.campaign(campaign_id)
        if current.state == CampaignState.IMPORTING:
            raise KnownError(
                f"Campaign {campaign_id} is still being imported.", "Wait for the import to end."
            )
        owner = current.runner_pid
        if owner is not None and owner != pid and lease_alive(owner, current.runner_heartbeat):
            raise _taken(campaign_id, owner)
        # Only if the owner is still the one read: two processes starting at once must not
        # both win (the second's recovery would hand the first's messages out again).
        unchanged = (
            campaigns.c.runner_pid.is_(None) if owner is None else campaigns.c.runner_pid == owner
        )
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id, unchanged)
                .values(runner_pid=pid, runner_heartbeat=time.time())
            ).rowcount
        if not claimed:
            raise _taken(campaign_id, self.campaign(campaign_id).runner_pid)

    def renew_lease(self, campaign_id: int, pid: int) -> bool:
        """Renew ``pid``'s lease; False if another process has taken the campaign over."""
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id, campaigns.c.runner_pid == pid)
                .values(runner_heartbeat=time.time())
            ).rowcount
        return bool(renewed)

    def runner_active(self, campaign_id: int) -> bool:
        """Whether a live process holds the campaign's lease (is sending or waiting to)."""
        current = self.campaign(campaign_id)
        return lease_alive(current.runner_pid, current.runner_heartbeat)

    def release_runner(self, campaign_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id)
                .values(runner_pid=None, runner_heartbeat=None)
            )

    # --- recipients --------------------------------------------------------------------

    def counts(self, campaign_id: int) -> Counts:
        query = (
            select(recipients.c.state, func.count())
            .where(recipients.c.campaign_id == campaign_id)
            .group_by(recipients.c.state)
        )
        with self.engine.connect() as conn:
            found = {str(state): int(n) for state, n in conn.execute(query)}
        return Counts(**{s.value: found.get(s.value, 0) for s in RecipientState})

    def failures_by_cause(self, campaign_id: int, samples: int = 5) -> list[CauseCount]:
        """Failed and unknown recipients grouped by stored cause, the largest group first."""
        ended = and_(
            recipients.c.campaign_id == campaign_id,
            recipients.c.state.in_([RecipientState.FAILED, RecipientState.UNKNOWN]),
        )
        query = (
            select(
                recipients.c.cause,
                func.count(),
                func.max(recipients.c.temporary),
                func.max(recipients.c.id),
            )
            .where(ended)
            .group_by(recipients.c.cause)
            .order_by(func.count().desc(), recipients.c.cause)
        )
        found = []
        with self.engine.connect() as conn:
            for cause, count, temporary, last in conn.execute(query).all():
                emails = conn.execute(
                    select(recipients.c.email)
                    .where(ended, recipients.c.cause == cause)
                    .order_by(recipients.c.id)
                    .limit(samples)
                ).scalars()
                latest = conn.execute(select(recipients.c.error).where(recipients.c.id == last))
                found.append(
                    CauseCount(cause, count, bool(temporary), tuple(emails), latest.scalar() or "")
                )
        return found

    def _filter(self, campaign_id: int, state: RecipientState | str | None) -> Any:
        condition = recipients.c.campaign_id == campaign_id
        return condition if state is None else and_(condition, recipients.c.state == str(state))

    def recipients(
        self,
        campaign_id: int,
        state: RecipientState | str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Recipient]:
        """One page, in import order (for a lazy table of a million rows)."""
        query = (
            select(recipients)
            .where(self._filter(campaign_id, state))
            .order_by(recipients.c.id)
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_recipient(r) for r in conn.execute(query)]

    def recipients_from(
        self,
        campaign_id: int,
        first_id: int,
        state: RecipientState | str | None = None,
        limit: int = 100,
    ) -> list[Recipient]:
        """One page starting at recipient id ``first_id``: an index seek, however deep."""
        query = (
            select(recipients)
            .where(self._filter(campaign_id, state), recipients.c.id >= first_id)
            .order_by(recipients.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_recipient(r) for r in conn.execute(query)]

    def page_starts(
        self, campaign_id: int, state: RecipientState | str | None = None, every: int = 100
    ) -> list[int]:
        """The id at positions 0, every, 2 x every, ... in import order.

        With it, page ``k`` is ``recipients_from(id, starts[k], state, every)``. Without a
        state the ids of a campaign are usually one contiguous run (an import is one
        writer), which three index lookups confirm; otherwise one pass over the index.
        """
        with self.engine.connect() as conn:
            if state is None:
                run = self._contiguous_ids(conn, campaign_id)
                if run is not None:
                    return list(range(run[0], run[1] + 1, every))
            numbered = (
                select(
                    recipients.c.id,
                    func.row_number().over(order_by=recipients.c.id).label("position"),
                )
                .where(self._filter(campaign_id, state))
                .subquery()
            )
            query = (
                select(numbered.c.id)
                .where((numbered.c.position - 1) % every == 0)
                .order_by(numbered.c.id)
            )
            return [int(i) for (i,) in conn.execute(query)]

    def _contiguous_ids(self, conn: Any, campaign_id: int) -> tuple[int, int] | None:
        ids = select(recipients.c.id).where(recipients.c.campaign_id == campaign_id).limit(1)
        first = conn.execute(ids.order_by(recipients.c.id)).scalar()
        last = conn.execute(ids.order_by(recipients.c.id.desc())).scalar()
        if first is None or last is None:
            return None
        count = conn.execute(
            select(func.count()).select_from(recipients).where(self._filter(campaign_id, None))
        ).scalar_one()
        return (int(first), int(last)) if last - first + 1 == count else None

    def recipient_count(self, campaign_id: int, state: RecipientState | str | None = None) -> int:
        query = select(func.count()).select_from(recipients).where(self._filter(campaign_id, state))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def iter_fields(
        self, campaign_id: int, page: int = 5000
    ) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(line, email, fields) of every recipient, read in pages."""
        after = 0
        while True:
            query = (
                select(recipients.c.id, recipients.c.line, recipients.c.email, recipients.c.fields)
                .where(recipients.c.campaign_id == campaign_id, recipients.c.id > after)
                .order_by(recipients.c.id)
                .limit(page)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            for row in rows:
                yield row.line, row.email, row.fields
            after = rows[-1].id

    def recipient_keys(self, campaign_id: int) -> set[str]:
        """The lower-cased addresses already in the campaign, to drop duplicates on import."""
        query = select(recipients.c.email).where(recipients.c.campaign_id == campaign_id)
        with self.engine.connect() as conn:
            return {email.lower() for (email,) in conn.execute(query)}

    def insert_recipients(self, campaign_id: int, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        values = [(campaign_id, r["line"], r["email"], json.dumps(r["fields"])) for r in rows]
        present = Counter(name for r in rows for name in r["fields"])
        with self.engine.begin() as conn:
            # The raw driver's executemany: SQLAlchemy's per-row processing costs 3x here.
            conn.connection.driver_connection.executemany(  # type: ignore[union-attr]
                "INSERT INTO recipients (campaign_id, line, email, fields, state, attempts, "
                "error, cause, temporary, server_uuid, reply) "
                "VALUES (?, ?, ?, ?, 'pending', 0, '', '', 0, '', '')",
                values,
            )
            counts = self._field_counts(conn, campaign_id)
            if counts is not None:  # None: not counted yet, field_presence() will
                self._store_field_counts(conn, campaign_id, Counter(counts) + present)

    @staticmethod
    def _field_counts(conn: Any, campaign_id: int) -> dict[str, int] | None:
        query = select(campaigns.c.field_counts).where(campaigns.c.id == campaign_id)
        counts = conn.execute(query).scalar()
        return None if counts is None else {str(k): int(v) for k, v in counts.items()}

    @staticmethod
    def _store_field_counts(conn: Any, campaign_id: int, counts: dict[str, int]) -> None:
        conn.execute(
            update(campaigns).where(campaigns.c.id == campaign_id).values(field_counts=counts)
        )

    def field_presence(self, campaign_id: int) -> tuple[int, dict[str, int]]:
        """How many recipients there are and how many carry each field (no scan)."""
        total = self.recipient_count(campaign_id)
        with self.engine.connect() as conn:
            counts = self._field_counts(conn, campaign_id)
        if counts is None:  # imported before the counts were kept: count once
            counts = dict(
                Counter(n for _, _, fields in self.iter_fields(campaign_id) for n in fields)
            )
            with self.engine.begin() as conn:
                self._store_field_counts(conn, campaign_id, counts)
        return total, counts

    def first_lacking(self, campaign_id: int, name: str) -> tuple[str, int]:
        """(email, line) of the first recipient without field ``name``; ("", 0) if none."""
        with self.engine.connect() as conn:
            row = conn.execute(_FIRST_LACKING, {"campaign": campaign_id, "name": name}).first()
        return ("", 0) if row is None else (str(row.email), int(row.line))

    def add_fields(self, campaign_id: int, names: Iterable[str]) -> None:
        current = self.campaign(campaign_id).fields
        merged = list(current) + [n for n in names if n not in current]
        with self.engine.begin() as conn:
            conn.execute(
                update(campaigns).where(campaigns.c.id == campaign_id).values(fields=merged)
            )

    def retry_failed(
        self, campaign_id: int, *, temporary_only: bool = True, include_unknown: bool = False
    ) -> int:
        """Make failed recipients pending again (by default only temporary failures).

        ``include_unknown`` also sends again the messages whose delivery is unknown
        (which may then arrive twice). A run that is going picks them up before it ends.
        """
        condition = self._filter(campaign_id, RecipientState.FAILED)
        if temporary_only:
            condition = and_(condition, recipients.c.temporary.is_(True))
        if include_unknown:
            condition = or_(condition, self._filter(campaign_id, RecipientState.UNKNOWN))
        with self.engine.begin() as conn:
            count = conn.execute(
                update(recipients)
                .where(condition)
                .values(state=RecipientState.PENDING, error="", cause="", temporary=False)
            ).rowcount
            if count:
                conn.execute(
                    update(campaigns)
                    .where(
                        campaigns.c.id == campaign_id,
                        campaigns.c.state.in_([CampaignState.FINISHED, CampaignState.DRAFT]),
                    )
                    .values(state=CampaignState.PAUSED, pause_reason="failed recipients to retry")
                )
        return int(count)

    def export_csv(self, campaign_id: int, path: str | Path) -> int:
        """A per-recipient report: state, attempts, server, reply, cause, error."""
        self.campaign(campaign_id)  # NotFoundError before a file is made for nothing
        count = 0
        with open_private(path) as handle:  # 0600: it lists every recipient
            writer = csv.writer(handle)
            writer.writerow(EXPORT_COLUMNS)
            after = 0
            while True:
                page = self._export_page(campaign_id, after)
                if not page:
                    return count
                writer.writerows(
                    [
                        [getattr(r, c) if getattr(r, c) is not None else "" for c in EXPORT_COLUMNS]
                        for r in page
                    ]
                )
                count += len(page)
                after = page[-1].id

    def _export_page(self, campaign_id: int, after: int) -> list[Any]:
        query = (
            select(recipients)
            .where(recipients.c.campaign_id == campaign_id, recipients.c.id > after)
            .order_by(recipients.c.id)
            .limit(5000)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    # --- the engine's writes (through LedgerWriter) -------------------------------------

    def recover(self, campaign_id: int) -> int:
        """After a crash: recipients left ``sending`` become pending and are sent again."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(recipients)
                    .where(self._filter(campaign_id, RecipientState.SENDING))
                    .values(state=RecipientState.PENDING)
                ).rowcount
            )

    def claim(
        self, campaign_id: int, after: int, limit: int, outcomes: Sequence[Outcome] = ()
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """Commit ``outcomes``, then the next pending recipients after id ``after`` as sending."""
        with self.engine.begin() as conn:
            self._apply(conn, outcomes)
            rows = conn.exec_driver_sql(_CLAIM, (campaign_id, after, limit)).all()
            if rows:
                conn.exec_driver_sql(_MARK_SENDING, (campaign_id, rows[0][0], rows[-1][0]))
        return [(rid, email, json.loads(fields)) for rid, email, fields in rows]

    def apply(self, outcomes: Sequence[Outcome]) -> None:
        with self.engine.begin() as conn:
            self._apply(conn, outcomes)

    def _apply(self, conn: Any, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        conn.exec_driver_sql(
            _UPDATE,
            [
                (
                    str(o.state),
                    o.attempts,
                    o.error,
                    o.cause,
                    int(o.temporary),
                    o.server_uuid,
                    o.sent_at,
                    o.reply,
                    o.message_id,
                    o.token,
                    o.recipient_id,
                )
                for o in outcomes
            ],
        )
