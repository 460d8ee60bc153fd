"""Rate limits: the campaign's message rate and sliding window, and each server's quotas.

Hourly and daily server quotas are counted in SQLite per minute, shared by every
campaign and process: a sender leases a few sends at a time in one transaction, so
a quota holds across restarts and concurrent campaigns (a crash can only waste the
unused part of a lease, never overshoot).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.store.schema import server_sends

Clock = Callable[[], float]
HOUR_MINUTES = 60
DAY_MINUTES = 24 * 60
LEASE_SIZE = 20
QUOTA_RECHECK = 5.0  # seconds before asking the database again for an exhausted quota
RATE_MARGIN = 0.01  # MessageRate's window is this much over 1 s (10 ms): the jitter it absorbs


class TokenBucket:
    """``rate`` messages a second on average, at most ``burst`` at once after a pause.

    Each acquire reserves the next slot on a schedule, so sleeps that overshoot are
    made up by the following ones and the long-run rate is exact.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.interval = 1.0 / rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._next = clock()

    def reserve(self) -> float:
        """Take the next slot; how long to wait for it (0 when it is already due)."""
        now = self._clock()
        self._next = max(self._next, now - (self.burst - 1) * self.interval)
        wait = self._next - now
        self._next += self.interval
        return max(0.0, wait)

    def try_take(self) -> bool:
        """Take a slot only if it is due now."""
        now = self._clock()
        if max(self._next, now - (self.burst - 1) * self.interval) > now:
            return False
        self.reserve()
        return True

    def due_in(self) -> float:
        return max(0.0, self._next - self._clock())


class SlidingWindow:
    """At most ``limit`` messages in any ``duration`` seconds (listmonk's sliding window)."""

    def __init__(self, limit: int, duration: float, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.duration = duration
        self._clock = clock
        self._times: deque[float] = deque()

    def wait_time(self) -> float:
        now = self._clock()
        while self._times and self._times[0] <= now - self.duration:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.duration - now

    def record(self) -> None:
        self._times.append(self._clock())


class ReplyWindow:
    """At most ``limit`` replies in any 1 s, counting the messages in flight as replying now.

    A start is allowed while the replies noted in the last ``1 - floor`` seconds plus the
    messages in flight are fewer than ``limit``. Take any 1 s holding ``limit + 1``
    replies and the last of them to start: when it started (its reply ``floor`` or more
    later), each other one had replied less than ``1 - floor`` s before or was in flight,
    so the check saw ``limit`` and refused. That holds whatever the network or the event
    loop's lateness in noting replies, as long as no reply comes sooner than ``floor``.

    The price is the replies' spread above the floor (in steady state the window holds
    ``rate * (1 + mean latency - floor)``), so ``floor`` is the run's fastest reply, but
    at most ``slack`` under the median one: on loopback (spread ~1 ms) that is exact,
    through a network whose replies vary by 100 ms it costs ``slack`` (1%), not 10%,
    and a reply more than ``slack`` faster than usual may then share a second.
    """

    POLL = 0.002  # seconds between looks when only messages in flight fill the window

    def __init__(self, limit: int, slack: float = RATE_MARGIN, clock: Clock = time.monotonic):
        self.limit = limit
        self.slack = slack
        self.in_flight = 0
        self._clock = clock
        self._replies: deque[float] = deque()
        self._fastest = math.inf  # never rises: a load spike slows every reply, not the floor
        self._recent: deque[float] = deque(maxlen=max(64, limit))  # latencies, in order
        self._sorted: list[float] = []  # the same, sorted

    @property
    def floor(self) -> float:
        if not self._sorted:
            return 0.0
        return max(self._fastest, self._sorted[len(self._sorted) // 2] - self.slack)

    def wait_time(self) -> float:
        now = self._clock()
        since = now + self.floor - 1.0
        while self._replies and self._replies[0] <= since:
            self._replies.popleft()
        over = len(self._replies) + self.in_flight - self.limit  # this many must go first
        if over < 0:
            return 0.0
        if over < len(self._replies):
            return self._replies[over] - since
        return self.POLL

    def start(self) -> float:
        self.in_flight += 1
        return self._clock()

    def finish(self, started: float, sent: bool) -> None:
        """The message started at ``started`` is done (``sent``: its reply came just now)."""
        self.in_flight -= 1
        now = self._clock()
        self._replies.append(now)
        if sent:
            latency = now - started
            self._fastest = min(self._fastest, latency)
            # the median of about a second's replies: a stall's bunch of late ones, less
            # than half of them, does not lift the floor past the quick ones
            if len(self._recent) == self._recent.maxlen:
                del self._sorted[bisect.bisect_left(self._sorted, self._recent[0])]
            self._recent.append(latency)
            bisect.insort(self._sorted, latency)


class MessageRate:
    """A message rate: within 1% under it on average, never above it in any 1 s.

    A token bucket alone spaces the starts exactly ``1 / rate`` apart, so ``rate + 1``
    starts span exactly 1 s: the least jitter between a start and the moment the server
    counts the message (its arrival) or we note its reply (``sent_at``) puts ``rate + 1``
    into some second, and after a stall the bucket's catch-up comes in a bunch. So:

    - the bucket paces at ``rate / (1 + margin)``, with 50 ms of catch-up after a stall
      (``burst``: the servers' own limits keep theirs at one message, as before);
    - a strict sliding window allows at most ``n = ceil(rate)`` starts in any
      ``n / rate * (1 + margin)`` s (1.01 s for a whole rate): whatever the bucket does,
      ``n + 1`` arrivals within 1 s would need 10 ms of jitter between start and arrival;
    - with ``replies`` (the engine, which tells :meth:`finish`), a :class:`ReplyWindow`
      makes that hold for the replies however late the loop notes them.

    A fractional rate has its ``n`` in a little more than a second (2.5/s: 3 in 1.21 s).
    One object per run, on the engine's loop (rate-limited campaigns never use worker
    processes), so the slots it hands out are the only ones.
    """

    def __init__(
        self,
        rate: float,
        margin: float = RATE_MARGIN,
        clock: Clock = time.monotonic,
        *,
        replies: bool = False,
        burst: float | None = None,
    ) -> None:
        self.rate = rate
        count = math.ceil(rate)
        span = count / rate * (1 + margin)
        burst = max(1.0, rate / 20) if burst is None else burst
        self.bucket = TokenBucket(count / span, burst=burst, clock=clock)
        self.guard = SlidingWindow(count, span, clock)
        self.replies = ReplyWindow(count, margin, clock) if replies else None
        self._clock = clock

    def reserve(self) -> float:
        """Take the bucket's next slot; how long to sleep before asking :meth:`wait_time`."""
        return self.bucket.reserve()

    def wait_time(self) -> float:
        """How long until one more message may start (0: now; then :meth:`record`)."""
        wait = self.guard.wait_time()
        return max(wait, self.replies.wait_time()) if self.replies is not None else wait

    def record(self) -> float:
        """A message starts now (no ``await`` since :meth:`wait_time` said 0): its stamp
        for :meth:`finish`, which must follow, sent or not, when ``replies`` is on."""
        self.guard.record()
        return self.replies.start() if self.replies is not None else self._clock()

    def finish(self, started: float, sent: bool) -> None:
        if self.replies is not None:
            self.replies.finish(started, sent)

    def due_in(self) -> float:
        """Seconds until :meth:`take` can succeed (for callers that cannot sleep in between)."""
        return max(self.bucket.due_in(), self.wait_time())

    def take(self) -> None:
        """Start one message now, when :meth:`due_in` said 0 (no ``replies``: no finish)."""
        self.bucket.reserve()
        self.guard.record()


@dataclass
class Lease:
    minute: int
    left: int


class QuotaCounter:
    """Per-server hourly/daily send counts in the database, leased a few at a time.

    Blocking (one short transaction per lease); minute buckets are kept 61 and 1441
    minutes, one more than the window, so a count is never forgotten early.
    """

    def __init__(self, engine: Engine, clock: Clock = time.time) -> None:
        self.engine = engine
        self._clock = clock

    def used(self, server_uuid: str, minutes: int) -> int:
        minute = int(self._clock() // 60)
        query = select(func.coalesce(func.sum(server_sends.c.count), 0)).where(
            server_sends.c.server_uuid == server_uuid, server_sends.c.minute >= minute - minutes
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def renew(self, server: ServerSettings, old: Lease | None, want: int = LEASE_SIZE) -> Lease:
        if old is not None:
            self.give_back(server.uuid, old)
        return self.lease(server, want)

    def lease(self, server: ServerSettings, want: int) -> Lease:
        """Up to ``want`` sends within the server's quotas, counted as used at once."""
        minute = int(self._clock() // 60)
        with self.engine.begin() as conn:
            # Write first: the transaction takes SQLite's write lock before it reads, so
            # two processes leasing at once are serialised rather than both granted.
            self._add(conn, server.uuid, minute, want)
            granted = want
            for limit, minutes in (
                (server.max_per_hour, HOUR_MINUTES),
                (server.max_per_day, DAY_MINUTES),
            ):
                if limit is not None:
                    used = conn.execute(
                        select(func.sum(server_sends.c.count)).where(
                            server_sends.c.server_uuid == server.uuid,
                            server_sends.c.minute >= minute - minutes,
                        )
                    ).scalar_one()
                    granted = min(granted, max(0, want - (int(used) - limit)))
            if granted < want:
                self._add(conn, server.uuid, minute, granted - want)
        return Lease(minute, granted)

    def give_back(self, server_uuid: str, lease: Lease) -> None:
        if lease.left:
            with self.engine.begin() as conn:
                self._add(conn, server_uuid, lease.minute, -lease.left)
            lease.left = 0

    def purge(self) -> None:
        minute = int(self._clock() // 60)
        with self.engine.begin() as conn:
            old = server_sends.c.minute < minute - DAY_MINUTES - 1
            conn.execute(delete(server_sends).where(old))

    @staticmethod
    def _add(conn: object, server_uuid: str, minute: int, count: int) -> None:
        statement = sqlite_insert(server_sends).values(
            server_uuid=server_uuid, minute=minute, count=count
        )
        statement = statement.on_conflict_do_update(
            index_elements=["server_uuid", "minute"],
            set_={"count": server_sends.c.count + statement.excluded.count},
        )
        conn.execute(statement)  # type: ignore[attr-defined]


class ServerGate:
    """Whether a server may take one more message now: its per-second, hourly and daily limits.

    :meth:`try_take` is synchronous and cheap (the messenger's ``eligible``): it uses
    the slot when it says yes. Leases of the hourly/daily quota live here and are
    renewed by the engine, in the database thread, when :meth:`needs_lease` names them.
    """

    def __init__(
        self,
        servers: list[ServerSettings],
        clock: Clock = time.monotonic,
        minute: Callable[[], int] = lambda: int(time.time() // 60),
    ) -> None:
        self.servers = {s.uuid: s for s in servers}
        self._buckets = {
            s.uuid: MessageRate(s.max_per_second, clock=clock, burst=1.0)
            for s in servers
            if s.max_per_second
        }
        self._leases: dict[str, Lease] = {}
        self._retry_at: dict[str, float] = {}  # an exhausted quota is asked again from then
        self._clock = clock
        self._minute = minute
        self.low = asyncio.Event()  # set when some lease runs low

    @staticmethod
    def has_quota(server: ServerSettings) -> bool:
        return server.max_per_hour is not None or server.max_per_day is not None

    def try_take(self, server: ServerSettings) -> bool:
        bucket = self._buckets.get(server.uuid)
        if bucket is not None and bucket.due_in() > 0:
            return False
        lease = self._leases.get(server.uuid)
        if self.has_quota(server):
            if lease is None or lease.left <= 0 or lease.minute != self._minute():
                self.low.set()
                return False
            lease.left -= 1
            if lease.left <= LEASE_SIZE // 4:
                self.low.set()
        if bucket is not None:
            bucket.take()
        return True

    def next_due(self) -> float:
        """Seconds until some server's per-second limit lets a message through."""
        waits = [b.due_in() for b in self._buckets.values()]
        return min(waits) if waits else 0.0

    def needs_lease(self) -> list[ServerSettings]:
        minute, now = self._minute(), self._clock()
        found = []
        for server in self.servers.values():
            lease = self._leases.get(server.uuid)
            if not self.has_quota(server) or self._retry_at.get(server.uuid, 0.0) > now:
                continue
            if lease is None or lease.minute != minute or lease.left <= LEASE_SIZE // 4:
                found.append(server)
        return found

    def detach(self, server_uuid: str) -> Lease | None:
        """Take the lease away (no sends against it) so the database thread can return it."""
        return self._leases.pop(server_uuid, None)

    def install(self, server_uuid: str, lease: Lease) -> None:
        self._leases[server_uuid] = lease
        if lease.left == 0:
            self._retry_at[server_uuid] = self._clock() + QUOTA_RECHECK

    def exhausted(self) -> list[ServerSettings]:
        """Servers out of hourly or daily quota right now."""
        return [
            s
            for s in self.servers.values()
            if self.has_quota(s) and self._retry_at.get(s.uuid, 0.0) > self._clock()
        ]

    def detach_all(self) -> list[tuple[str, Lease]]:
        leases = list(self._leases.items())
        self._leases.clear()
        return leases
