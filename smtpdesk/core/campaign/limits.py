"""Rate limits: the campaign's token bucket and sliding window, and each server's quotas.

Hourly and daily server quotas are counted in SQLite per minute, shared by every
campaign and process: a sender leases a few sends at a time in one transaction, so
a quota holds across restarts and concurrent campaigns (a crash can only waste the
unused part of a lease, never overshoot).
"""

from __future__ import annotations

import asyncio
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
            s.uuid: TokenBucket(s.max_per_second, 1.0, clock) for s in servers if s.max_per_second
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
            bucket.reserve()
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
