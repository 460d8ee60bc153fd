"""What a running campaign reports: counts, rate, ETA, servers and errors grouped by cause."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace

from smtpdesk.core.campaign.ledger import CampaignState, Counts, RecipientState
from smtpdesk.core.smtp.types import Diagnosis, ServerStats

RATE_WINDOW = 5.0  # seconds over which the shown rate is measured
MAX_SAMPLES = 5  # recipients kept per error cause


@dataclass(frozen=True)
class ErrorGroup:
    cause: str
    message: str  # the latest diagnosis message for this cause
    hints: tuple[str, ...]
    temporary: bool
    count: int
    samples: tuple[str, ...]  # the first recipients that failed so


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
                diagnosis.cause, diagnosis.message, diagnosis.hints, diagnosis.temporary, 0, ()
            )
        samples = group.samples if len(group.samples) >= MAX_SAMPLES else (*group.samples, email)
        self.errors[diagnosis.cause] = replace(
            group,
            message=diagnosis.message,
            hints=diagnosis.hints,
            count=group.count + 1,
            samples=samples,
        )

    def as_counts(self) -> Counts:
        return Counts(**{s.value: n for s, n in self.counts.items()})

    def rate(self) -> float:
        now = time.monotonic()
        done = sum(
            self.counts[s]
            for s in (RecipientState.SENT, RecipientState.FAILED, RecipientState.SKIPPED)
        )
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
