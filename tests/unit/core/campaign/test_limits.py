"""Rate limiters with a fake clock, and the per-server quotas in SQLite."""

from __future__ import annotations

import pytest

from smtpdesk.core.campaign.limits import (
    LEASE_SIZE,
    QuotaCounter,
    ServerGate,
    SlidingWindow,
    TokenBucket,
)
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.store import Store


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_bucket_keeps_the_long_run_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(100.0, clock=clock)
    sent = 0
    # a sender that always oversleeps by 3 ms still gets exactly 100 per second
    while clock.now < 1_000_010.0:
        wait = bucket.reserve()
        clock.now += wait + 0.003
        sent += 1
    assert sent in range(999, 1002)


def test_token_bucket_burst_after_idle() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, burst=5, clock=clock)
    clock.now += 60
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    assert bucket.reserve() == pytest.approx(0.1)
    assert not bucket.try_take()


def test_sliding_window() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60.0, clock=clock)
    for _ in range(3):
        assert window.wait_time() == 0
        window.record()
    assert window.wait_time() == pytest.approx(60.0)
    clock.now += 30
    assert window.wait_time() == pytest.approx(30.0)
    clock.now += 30
    assert window.wait_time() == 0


def test_quota_leases_never_exceed_the_hourly_limit(store: Store) -> None:
    wall = Clock(60 * 1000)
    counter = QuotaCounter(store.engine, clock=wall)
    server = ServerSettings(host="h", max_per_hour=50, max_per_day=120)
    first = counter.lease(server, LEASE_SIZE)
    second = QuotaCounter(store.engine, clock=wall).lease(server, LEASE_SIZE)  # another process
    third = counter.lease(server, LEASE_SIZE)
    assert (first.left, second.left, third.left) == (20, 20, 10)
    assert counter.lease(server, LEASE_SIZE).left == 0
    third.left = 4  # 6 of the last 10 used; the rest goes back
    counter.give_back(server.uuid, third)
    assert counter.used(server.uuid, 60) == 46
    wall.now += 61 * 60  # the hour has passed, but the day still counts
    assert counter.lease(server, 100).left == 50
    assert counter.lease(server, 100).left == 0  # this hour is full again
    wall.now += 61 * 60
    assert counter.lease(server, 100).left == 120 - 46 - 50  # what is left of the day
    wall.now += 24 * 3600 + 120
    counter.purge()
    assert counter.used(server.uuid, 24 * 60) == 0


def test_gate_per_second_and_quota() -> None:
    clock = Clock()
    fast = ServerSettings(host="a", max_per_second=2)
    quota = ServerSettings(host="b", max_per_hour=10)
    free = ServerSettings(host="c")
    gate = ServerGate([fast, quota, free], clock=clock, minute=lambda: 7)
    assert gate.try_take(fast) and not gate.try_take(fast)
    clock.now += 0.5
    assert not gate.try_take(fast)  # paced 1% under the rate: never 3 in any 1 s
    clock.now += 0.005
    assert gate.try_take(fast)
    clock.now += 0.49
    assert not gate.try_take(fast)  # a third within 1 s (and 10 ms) of the first
    assert not gate.try_take(quota)  # no lease yet
    assert gate.needs_lease() == [quota]
    from smtpdesk.core.campaign.limits import Lease

    gate.install(quota.uuid, Lease(7, 2))
    assert gate.try_take(quota) and gate.try_take(quota) and not gate.try_take(quota)
    gate.install(quota.uuid, Lease(7, 0))
    assert gate.exhausted() == [quota]
    assert gate.needs_lease() == []  # asked again only after a while
    assert all(gate.try_take(free) for _ in range(100))
