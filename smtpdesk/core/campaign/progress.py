"""What a running campaign reports: counts, rate, ETA, servers and errors grouped by cause."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select

from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger, RecipientState
from smtpdesk.core.smtp.types import Diagnosis, ServerStats
from smtpdesk.core.store.schema import recipients

RATE_WINDOW = 5.0  # seconds over which the shown rate is measured
MAX_SAMPLES = 5  # recipients kept per error cause
_CODE_RE = re.compile(r"^\s*([245]\d\d)\b")

# A group's title names its cause in general words; the message of one failure names
# one server and one recipient, which is detail for the lines below the title.
CAUSE_TITLES = {
    "dns_not_found": "Server name not found",
    "connection_refused": "Connection refused",
    "timeout": "Timed out",
    "tls_mismatch": "TLS setting does not match the server",
    "certificate_invalid": "Server certificate not trusted",
    "certificate_changed": "Server certificate changed since it was trusted",
    "starttls_not_offered": "Server does not offer STARTTLS",
    "starttls_required": "Server requires STARTTLS",
    "auth_mechanism_not_offered": "Login method not offered",
    "auth_failed": "Login refused",
    "login_required": "Server needs a username and password",
    "relay_denied": "Relaying denied",
    "sender_refused": "Sender refused",
    "recipient_refused": "Recipient refused",
    "rate_limited": "Rate limited by the server",
    "greylisted": "Greylisted by the server",
    "temporary_failure": "Temporary failure",
    "connection_dropped": "Connection dropped",
    "pool_wait_timeout": "No free connection in time",
    "permanent_failure": "Message refused",
    "no_server_available": "No server available",
    "pool_closed": "Sending stopped",
    "worker_lost": "A sending process stopped",
    "template_error": "Template error",
    "sign_in_required": "Sign-in required",
    "oauth_failed": "OAuth sign-in failed",
    "oauth_token_rejected": "OAuth token refused by the server",
    "basic_auth_disabled": "Password sign-in disabled by the provider",
    "smtp_auth_disabled": "SMTP AUTH disabled for the mailbox",
    "unknown": "Unexpected error",
    "unsafe_header": "Header would carry a line break",
    "suppressed": "On the suppression list",
    "stopped": "Stopped before sending",
}
# What to do about a cause in general: shown under a group rebuilt from the ledger (which
# keeps each recipient's message, not the hints of the moment) or when a diagnosis has none.
CAUSE_HINTS = {
    "dns_not_found": "Check the server's host name (Servers tab), and the network or VPN.",
    "connection_refused": "Check the host and port; a firewall may block the port.",
    "timeout": "The server or the network is slow: retry later, or lower the concurrency.",
    "tls_mismatch": "Match Security to the port: TLS for 465, STARTTLS for 587 and 25.",
    "certificate_invalid": "Check the host name; for the server's own certificate, pin it "
    "on the server form (Test shows its fingerprint).",
    "certificate_changed": "Check with the server's administrator that the certificate was "
    "renewed, then test the server and trust the new one.",
    "starttls_not_offered": "Choose TLS (port 465) or ask the provider for STARTTLS.",
    "starttls_required": "Set Security to STARTTLS on the server form.",
    "auth_mechanism_not_offered": "Choose a login method the server offers (Test lists them).",
    "auth_failed": "Check the username and password (or app password) on the server form.",
    "login_required": "Enter the server's username and password on the server form.",
    "relay_denied": "Log in to the server, or send from an address it accepts.",
    "sender_refused": "Use a From address the server allows for this login.",
    "recipient_refused": "Check the address; the mailbox may not exist.",
    "rate_limited": "Lower the rate or the concurrency, then retry the failed recipients.",
    "greylisted": "Temporary: Retry failed sends them again later.",
    "temporary_failure": "Temporary: Retry failed sends them again later.",
    "connection_dropped": "Retry failed; if it goes on, lower the concurrency.",
    "pool_wait_timeout": "Lower the concurrency, or add a server to the messenger.",
    "permanent_failure": "Read the server's reply below; retrying will not help.",
    "no_server_available": "Test the messenger's servers in the Servers tab, then resume.",
    "pool_closed": "The campaign was stopping; Retry failed sends them again.",
    "worker_lost": "Its messages are sent again by the others; if it keeps happening, set "
    "worker_processes to 0 and see smtpdesk.log.",
    "template_error": "Correct the template, or the recipient's fields, then retry.",
    "sign_in_required": "Sign in again on the server form (Sign in…).",
    "oauth_failed": "Sign in again on the server form; check the network.",
    "oauth_token_rejected": "Sign in again; check that the account may send mail by SMTP.",
    "basic_auth_disabled": "Switch the server to OAuth sign-in (Authentication → xoauth2).",
    "smtp_auth_disabled": "An administrator must enable SMTP AUTH for the mailbox.",
    "unsafe_header": "Remove line breaks from this recipient's fields, then retry.",
    "suppressed": "Remove the address from the suppression list to send to it.",
    "stopped": "Resume the campaign to send it.",
    "unknown": "Read the server's reply; Retry failed may help if it was temporary.",
}


def cause_title(cause: str, codes: Sequence[int] = ()) -> str:
    """E.g. ``Recipient refused (550)``: the cause in words and the reply codes seen."""
    title = CAUSE_TITLES.get(cause) or cause.replace("_", " ").capitalize() or "Unexpected error"
    return f"{title} ({', '.join(map(str, codes))})" if codes else title


def cause_hints(cause: str, hints: Sequence[str] = ()) -> tuple[str, ...]:
    """``hints`` if there are any, else the cause's general hint (none for an unknown cause)."""
    if hints:
        return tuple(hints)
    return (CAUSE_HINTS[cause],) if cause in CAUSE_HINTS else ()


def reply_code(diagnosis: Diagnosis) -> int | None:
    """The SMTP reply code of a failure, from the diagnosis or the start of its raw reply."""
    if diagnosis.code is not None:
        return diagnosis.code
    match = _CODE_RE.match(diagnosis.raw)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ErrorGroup:
    cause: str
    title: str  # the cause in general words, e.g. "Recipient refused (550)"
    message: str  # the latest diagnosis message for this cause (names one recipient)
    hints: tuple[str, ...]
    temporary: bool
    count: int
    samples: tuple[str, ...]  # the first recipients that failed so
    codes: tuple[int, ...] = ()  # the reply codes seen, sorted


@dataclass(frozen=True)
class Progress:
    campaign_id: int
    state: CampaignState
    counts: Counts
    rate: float  # messages done per second over the last few seconds
    elapsed: float
    eta: float | None  # seconds, None when unknown
    servers: tuple[ServerStats, ...] = ()
    errors: tuple[ErrorGroup, ...] = ()
    pause_reason: str = ""
    waiting: str = ""  # why nothing is being sent right now (schedule, quotas), if so

    @property
    def total(self) -> int:
        return self.counts.total


@dataclass
class Tally:
    """The engine's running figures; turned into a :class:`Progress` by :meth:`snapshot`."""

    counts: dict[RecipientState, int]
    started: float = field(default_factory=time.monotonic)
    failures: int = 0  # failures in this run, for max_send_errors
    errors: dict[str, ErrorGroup] = field(default_factory=dict)
    _history: deque[tuple[float, int]] = field(default_factory=deque)

    @classmethod
    def from_counts(cls, counts: Counts) -> Tally:
        return cls({s: getattr(counts, s.value) for s in RecipientState})

    def move(self, old: RecipientState, new: RecipientState, n: int = 1) -> None:
        self.counts[old] -= n
        self.counts[new] += n

    def fail(self, diagnosis: Diagnosis, email: str) -> None:
        self.failures += 1
        group = self.errors.get(diagnosis.cause)
        if group is None:
            group = ErrorGroup(
                diagnosis.cause,
                cause_title(diagnosis.cause),
                diagnosis.message,
                diagnosis.hints,
                diagnosis.temporary,
                0,
                (),
            )
        samples = group.samples if len(group.samples) >= MAX_SAMPLES else (*group.samples, email)
        code = reply_code(diagnosis)
        codes = group.codes if code is None or code in group.codes else (*group.codes, code)
        self.errors[diagnosis.cause] = replace(
            group,
            title=cause_title(diagnosis.cause, sorted(codes)),
            message=diagnosis.message,
            hints=cause_hints(diagnosis.cause, diagnosis.hints),
            count=group.count + 1,
            samples=samples,
            codes=tuple(sorted(codes)),
        )

    def as_counts(self) -> Counts:
        return Counts(**{s.value: n for s, n in self.counts.items()})

    def rate(self) -> float:
        now = time.monotonic()
        done = self.as_counts().done
        self._history.append((now, done))
        while len(self._history) > 2 and self._history[0][0] < now - RATE_WINDOW:
            self._history.popleft()
        first_time, first_done = self._history[0]
        return (done - first_done) / (now - first_time) if now > first_time else 0.0

    def snapshot(
        self,
        campaign_id: int,
        state: CampaignState,
        *,
        servers: tuple[ServerStats, ...],
        pause_reason: str = "",
        waiting: str = "",
    ) -> Progress:
        counts = self.as_counts()
        rate = self.rate()
        left = counts.pending + counts.sending
        eta = left / rate if rate > 0 else (0.0 if left == 0 else None)
        errors = tuple(sorted(self.errors.values(), key=lambda g: -g.count))
        return Progress(
            campaign_id,
            state,
            counts,
            rate,
            time.monotonic() - self.started,
            eta,
            servers,
            errors,
            pause_reason,
            waiting,
        )


def stored_error_groups(ledger: Ledger, campaign_id: int) -> tuple[ErrorGroup, ...]:
    """The error groups rebuilt from the ledger (after a restart): each failed or unknown
    recipient under its stored cause, with the cause's general hint. Blocking: a thread."""
    return tuple(
        ErrorGroup(
            c.cause,
            cause_title(c.cause),
            c.latest,
            cause_hints(c.cause),
            c.temporary,
            c.count,
            c.samples,
        )
        for c in ledger.failures_by_cause(campaign_id, MAX_SAMPLES)
    )


def stored_server_stats(ledger: Ledger, campaign_id: int) -> tuple[ServerStats, ...]:
    """Sent and failed recipients per server, from the ledger (after a restart): the
    sessions before this one, which the engine's live figures do not know. Blocking."""
    ended = (RecipientState.SENT, RecipientState.FAILED)
    query = (
        select(recipients.c.server_uuid, recipients.c.state, func.count())
        .where(recipients.c.campaign_id == campaign_id, recipients.c.state.in_(ended))
        .where(recipients.c.server_uuid != "")
        .group_by(recipients.c.server_uuid, recipients.c.state)
    )
    with ledger.engine.connect() as conn:
        rows = [(str(uuid), str(state), int(n)) for uuid, state, n in conn.execute(query)]
    labels = {s.uuid: s.label for s in ledger.store.servers()}
    found: dict[str, ServerStats] = {}
    for uuid, state, count in rows:
        stats = found.get(uuid) or ServerStats(uuid, labels.get(uuid, "(a deleted server)"))
        sent, failed = (count, 0) if state == RecipientState.SENT else (0, count)
        found[uuid] = replace(stats, sent=stats.sent + sent, failed=stats.failed + failed)
    return tuple(sorted(found.values(), key=lambda s: s.label))


class RunTotals:
    """Per-server figures and error groups added up over a campaign's runs.

    Each run (the first, each resume) sends through a new messenger, counts its
    errors afresh and times itself from zero; a panel that shows the campaign shows
    these sums instead, so its elapsed time (and a chart drawn against it) goes on.
    """

    def __init__(self) -> None:
        self._servers: tuple[ServerStats, ...] = ()  # the sums of the runs that ended
        self._errors: tuple[ErrorGroup, ...] = ()
        self._elapsed = 0.0  # the seconds of the runs that ended
        self._last: Progress | None = None  # the last ended run's own figures

    def combined(self, current: Progress) -> Progress:
        """The running run's ``current`` figures plus those of the runs before it."""
        servers, errors = self._servers, self._errors
        if self._last is None or current.servers != self._last.servers:
            servers = add_server_stats(servers, current.servers)
        # else: no new sender yet (a run waiting for its schedule), nothing to add
        if self._last is None or current.errors != self._last.errors:
            errors = add_error_groups(errors, current.errors)
        elapsed = self._elapsed + current.elapsed
        if current == self._last:  # the ended run itself, reported again: counted once
            elapsed = self._elapsed
        return replace(current, servers=servers, errors=errors, elapsed=elapsed)

    def start_from(
        self, errors: tuple[ErrorGroup, ...], servers: tuple[ServerStats, ...] = ()
    ) -> None:
        """Start from the error groups and per-server counts of runs before this process
        (see stored_error_groups and stored_server_stats)."""
        if self._last is None:  # only before the first run here: later ones carry their own
            self._errors = errors
            self._servers = servers

    def end_run(self, final: Progress) -> None:
        total = self.combined(final)
        self._servers, self._errors, self._last = total.servers, total.errors, final
        self._elapsed = total.elapsed


def add_error_groups(
    earlier: Sequence[ErrorGroup], current: Sequence[ErrorGroup]
) -> tuple[ErrorGroup, ...]:
    """One group per cause: counts added, the first samples kept, the latest message."""
    merged = {g.cause: g for g in earlier}
    for g in current:
        before = merged.get(g.cause)
        if before is not None:
            codes = tuple(sorted(set(before.codes) | set(g.codes)))
            g = replace(
                g,
                title=cause_title(g.cause, codes),
                count=before.count + g.count,
                samples=(*before.samples, *g.samples)[:MAX_SAMPLES],
                codes=codes,
            )
        merged[g.cause] = g
    return tuple(sorted(merged.values(), key=lambda g: -g.count))


def add_server_stats(
    earlier: Sequence[ServerStats], current: Sequence[ServerStats]
) -> tuple[ServerStats, ...]:
    """``current`` with ``earlier``'s counts added per server; connections stay current's."""
    before = {s.server_uuid: s for s in earlier}
    merged = [_add(before.pop(s.server_uuid, None), s) for s in current]
    idle = [replace(s, connections_open=0, connections_busy=0) for s in before.values()]
    return (*merged, *idle)


def _add(earlier: ServerStats | None, now: ServerStats) -> ServerStats:
    if earlier is None:
        return now
    sends_before, sends_now = earlier.sent + earlier.failed, now.sent + now.failed
    sends = sends_before + sends_now
    mean = (
        (earlier.mean_send_seconds * sends_before + now.mean_send_seconds * sends_now) / sends
        if sends
        else 0.0
    )
    return replace(
        now,
        sent=earlier.sent + now.sent,
        failed=earlier.failed + now.failed,
        retried=earlier.retried + now.retried,
        wait_seconds=earlier.wait_seconds + now.wait_seconds,
        mean_send_seconds=mean,
        last_error=now.last_error or earlier.last_error,
    )
