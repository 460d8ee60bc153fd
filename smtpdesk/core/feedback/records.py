"""The feedback's database side: settings, what was read, matching, outcomes, suppression.

Contract: :meth:`FeedbackBook.apply` handles one classified message in one transaction:
it marks the message's key processed, matches each finding to a sent recipient (by the
token, then the original's Message-ID/References, then the address among recent
campaigns), writes the recipient's outcome, records the event and suppresses the address
when the mailbox's limits say so. A key already processed changes nothing and counts
nothing, so a re-scan or a scan after a crash never counts a message twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from smtpdesk.core.feedback.classify import Classified, Finding, Kind
from smtpdesk.core.feedback.tokens import verify
from smtpdesk.core.settings import (
    MAILBOX_FIELDS,
    MailboxSettings,
    MailProtocol,
    ProcessedAction,
    TlsType,
)
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import (
    feedback_events,
    mailbox_cursor,
    mailbox_processed,
    mailbox_scans,
    mailbox_settings,
    recipients,
    suppressions,
)

RECENT_SECONDS = 30 * 86400.0  # "recent campaigns" for matching by address alone
SENT_STATES = ("sent", "unknown")
# A recipient's feedback never goes down: a complaint is not undone by a later soft bounce.
_RANK = {("", ""): 0, ("bounced", "soft"): 1, ("bounced", "hard"): 2}
_OUTCOME = {
    Kind.HARD: ("bounced", "hard"),
    Kind.SOFT: ("bounced", "soft"),
    Kind.COMPLAINT: ("complained", ""),
    Kind.UNSUBSCRIBE: ("unsubscribed", ""),
}
_REASON = {Kind.HARD: "bounced", Kind.SOFT: "bounced", Kind.COMPLAINT: "complained"}
# The counts of a scan, as ``mailbox scan --json`` gives them.
COUNT_NAMES = ("hard", "soft", "complaints", "unsubscribes", "ignored", "unmatched", "refused")
_COUNTED = {Kind.HARD: "hard", Kind.SOFT: "soft", Kind.COMPLAINT: "complaints"}


@dataclass
class ScanCounts:
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    ignored: int = 0  # auto-replies, delivery reports without a failure, other mail
    unmatched: int = 0  # about nobody we sent to
    refused: int = 0  # an unsubscribe request whose token is forged
    suppressed: int = 0  # addresses newly on the suppression list
    already: int = 0  # read before: counted then, not now

    def add(self, other: ScanCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Match:
    recipient_id: int
    campaign_id: int
    email: str


def _rank(feedback: str, kind: str) -> int:
    return _RANK.get((feedback, kind), 3)


class FeedbackBook:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    # --- settings and state -------------------------------------------------------

    def mailbox(self) -> MailboxSettings:
        with self.engine.connect() as conn:
            row = conn.execute(select(mailbox_settings.c.data).where(mailbox_settings.c.id == 1))
            data = row.scalar()
        if not data:
            return MailboxSettings()
        values: dict[str, Any] = {k: v for k, v in dict(data).items() if k in MAILBOX_FIELDS}
        values["protocol"] = MailProtocol(values.get("protocol", "imap"))
        values["tls_type"] = TlsType(values.get("tls_type", "TLS"))
        values["processed"] = ProcessedAction(values.get("processed", "move"))
        return MailboxSettings(**values)

    def put_mailbox(self, settings: MailboxSettings) -> None:
        with self.engine.begin() as conn:
            conn.execute(mailbox_settings.delete())
            conn.execute(insert(mailbox_settings).values(id=1, data=settings.to_dict()))

    def cursor(self, folder: str) -> tuple[int, int]:
        """(UIDVALIDITY, last UID read) of an IMAP folder; (0, 0) before the first scan."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(mailbox_cursor).where(mailbox_cursor.c.folder == folder)
            ).first()
        return (int(row.uidvalidity), int(row.last_uid)) if row else (0, 0)

    def set_cursor(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(mailbox_cursor)
                .prefix_with("OR REPLACE")
                .values(folder=folder, uidvalidity=uidvalidity, last_uid=last_uid)
            )

    def last_scan(self) -> tuple[float, dict[str, Any]] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(mailbox_scans).where(mailbox_scans.c.id == 1)).first()
        return (float(row.finished_at), dict(row.result)) if row else None

    def put_last_scan(self, result: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(mailbox_scans)
                .prefix_with("OR REPLACE")
                .values(id=1, finished_at=time.time(), result=result)
            )

    # --- what campaigns show ----------------------------------------------------------

    def campaign_counts(self, campaign_id: int) -> dict[str, int]:
        """``bounced``, ``complained`` and ``unsubscribed`` recipients of one campaign."""
        query = (
            select(recipients.c.feedback, func.count())
            .where(recipients.c.campaign_id == campaign_id, recipients.c.feedback != "")
            .group_by(recipients.c.feedback)
        )
        counts = {"bounced": 0, "complained": 0, "unsubscribed": 0}
        with self.engine.connect() as conn:
            for feedback, count in conn.execute(query):
                counts[str(feedback)] = int(count)
        return counts

    def all_campaign_counts(self) -> dict[int, dict[str, int]]:
        query = (
            select(recipients.c.campaign_id, recipients.c.feedback, func.count())
            .where(recipients.c.feedback != "")
            .group_by(recipients.c.campaign_id, recipients.c.feedback)
        )
        found: dict[int, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for campaign_id, feedback, count in conn.execute(query):
                counts = found.setdefault(
                    int(campaign_id), {"bounced": 0, "complained": 0, "unsubscribed": 0}
                )
                counts[str(feedback)] = int(count)
        return found

    # --- one message --------------------------------------------------------------------

    def apply(
        self,
        item: Classified,
        settings: MailboxSettings,
        key: bytes,
        *,
        extra_keys: Sequence[str] = (),
    ) -> tuple[ScanCounts, str]:
        """Record one message (see the module's contract); ``extra_keys`` (a POP3 UIDL)
        are marked processed with it. Returns the counts and what the message was."""
        counts = ScanCounts()
        now = time.time()
        with self.engine.begin() as conn:
            before = _marked_kind(conn, item.key)
            if before is not None:
                for extra in extra_keys:
                    _mark(conn, extra, before, now)
                counts.already = 1
                return counts, before
            outcome = self._apply(conn, item, settings, key, now, counts)
            for name in (item.key, *extra_keys):
                _mark(conn, name, outcome, now)
        return counts, outcome

    def processed_kind(self, key: str) -> str | None:
        """What a message read before was (``other``: not feedback); None: never read."""
        with self.engine.connect() as conn:
            return _marked_kind(conn, key)

    def _apply(
        self,
        conn: Connection,
        item: Classified,
        settings: MailboxSettings,
        key: bytes,
        now: float,
        counts: ScanCounts,
    ) -> str:
        if not item.actionable:
            counts.ignored = 1
            return str(item.kind)
        targets = [t for t in (verify(key, token) for token in item.tokens) if t is not None]
        if item.kind == Kind.UNSUBSCRIBE and not targets:
            counts.refused = 1  # forged or mangled: nobody is unsubscribed on its word
            return "refused"
        matched = False
        for finding in item.findings:
            match = self._match(conn, item, finding, targets, now)
            if match is None:
                continue
            matched = True
            self._record(conn, item, finding, match, now)
            counts.suppressed += self._suppress(
                conn, item, finding.kind, match.email, settings, now
            )
        if not matched:
            counts.unmatched = 1
            return "unmatched"
        if item.kind == Kind.UNSUBSCRIBE:
            counts.unsubscribes = 1
        else:
            for finding in item.findings:
                name = _COUNTED[finding.kind]
                setattr(counts, name, getattr(counts, name) + 1)
        return str(item.kind)

    def _match(
        self,
        conn: Connection,
        item: Classified,
        finding: Finding,
        targets: Sequence[Any],
        now: float,
    ) -> Match | None:
        """By token, then by the original's ids, then by address among recent campaigns."""
        rows: list[Any] = []
        for target in targets:
            rows += conn.execute(
                _recipient_query().where(
                    recipients.c.id == target.recipient_id,
                    recipients.c.campaign_id == target.campaign_id,
                )
            ).all()
        if item.kind == Kind.UNSUBSCRIBE:
            return _first(rows)  # only the signed token says whom to unsubscribe
        if not rows and item.original_ids:
            rows = list(
                conn.execute(
                    _recipient_query().where(recipients.c.message_id.in_(item.original_ids))
                ).all()
            )
        if not rows and finding.email:
            rows = list(
                conn.execute(
                    _recipient_query()
                    .where(
                        func.lower(recipients.c.email) == finding.email,
                        recipients.c.state.in_(SENT_STATES),
                        recipients.c.sent_at >= now - RECENT_SECONDS,
                    )
                    .order_by(recipients.c.sent_at.desc())
                    .limit(1)
                ).all()
            )
        if len(rows) > 1 and finding.email:  # several: the one the finding names
            rows = [r for r in rows if r.email.lower() == finding.email] or rows[:1]
        return _first(rows)

    def _record(
        self, conn: Connection, item: Classified, finding: Finding, match: Match, now: float
    ) -> None:
        feedback, kind = _OUTCOME[finding.kind]
        current = conn.execute(
            select(recipients.c.feedback, recipients.c.feedback_kind).where(
                recipients.c.id == match.recipient_id
            )
        ).one()
        if _rank(feedback, kind) >= _rank(current.feedback, current.feedback_kind):
            conn.execute(
                update(recipients)
                .where(recipients.c.id == match.recipient_id)
                .values(
                    feedback=feedback,
                    feedback_kind=kind,
                    feedback_at=now,
                    feedback_status=finding.status[:2000],
                )
            )
        conn.execute(
            insert(feedback_events).values(
                email=match.email,
                kind=str(finding.kind),
                campaign_id=match.campaign_id,
                recipient_id=match.recipient_id,
                status=finding.status[:2000],
                source=item.key,
                at=now,
            )
        )

    def _suppress(
        self,
        conn: Connection,
        item: Classified,
        kind: Kind,
        email: str,
        settings: MailboxSettings,
        now: float,
    ) -> int:
        """listmonk's actions: unsubscribe at once; the others after their limit."""
        if kind != Kind.UNSUBSCRIBE:
            limit = {
                Kind.HARD: settings.hard_bounce_limit,
                Kind.SOFT: settings.soft_bounce_limit,
                Kind.COMPLAINT: settings.complaint_limit,
            }[kind]
            if limit == 0 or _events(conn, email, kind) < limit:
                return 0
        reason = "unsubscribed" if kind == Kind.UNSUBSCRIBE else _REASON[kind]
        if kind == Kind.SOFT:
            reason = "bounced (soft)"
        result = conn.execute(
            insert(suppressions)
            .prefix_with("OR IGNORE")
            .values(email=email, reason=reason, added_at=now, source=item.key)
        )
        return int(result.rowcount)


def _first(rows: Sequence[Any]) -> Match | None:
    if not rows:
        return None
    return Match(int(rows[0].id), int(rows[0].campaign_id), str(rows[0].email).lower())


def _recipient_query() -> Any:
    return select(recipients.c.id, recipients.c.campaign_id, recipients.c.email)


def _events(conn: Connection, email: str, kind: Kind) -> int:
    """Hard bounces and complaints count each; soft bounces once per campaign."""
    what = (
        func.count(func.distinct(feedback_events.c.campaign_id))
        if kind == Kind.SOFT
        else func.count()
    )
    query = select(what).where(
        and_(feedback_events.c.email == email, feedback_events.c.kind == str(kind))
    )
    return int(conn.execute(query).scalar() or 0)


def _marked_kind(conn: Connection, key: str) -> str | None:
    query = select(mailbox_processed.c.kind).where(mailbox_processed.c.key == key)
    found = conn.execute(query).scalar()
    return None if found is None else str(found)


def _mark(conn: Connection, key: str, kind: str, now: float) -> None:
    conn.execute(
        insert(mailbox_processed)
        .prefix_with("OR IGNORE")
        .values(key=key, kind=kind, processed_at=now)
    )


@dataclass(frozen=True)
class CampaignLinks:
    """What a campaign's messages carry of the mailbox: no address, no token (and the
    keyring is not asked)."""

    address: str = ""
    key: bytes | None = None
    verp: bool = False


def unsubscribe_links(store: Store) -> CampaignLinks:
    from smtpdesk.core.feedback.tokens import signing_key

    mailbox = FeedbackBook(store).mailbox()
    if not mailbox.unsubscribe_address:
        return CampaignLinks()
    return CampaignLinks(mailbox.unsubscribe_address, signing_key(), mailbox.verp)
