"""Pipelined SMTP (issue 13), side by side in one run with Postfix's smtp-source (prints numbers).

1. Loopback, 8 connections: the whole engine (render, MIME, pool, ledger) and
   ``smtp-source -d -s 8 -l 2000`` against the same smtp-sink (PIPELINING, no CHUNKING).
2. Through bench/_proxy.py (10 ms each way): messages per second per connection, the pool
   sending ready ~2 KB messages with 4 sends per connection (its pipelining window) and
   smtp-source with the same connections; to smtp-sink (PIPELINING) and to a private real
   Postfix smtpd (PIPELINING and CHUNKING, tests/helpers/postfix.py; needs root).
3. Rate accuracy: the engine at 100 and 1,000 messages a second, to bench/_stamp_sink.py
   (which notes each message's arrival), and the most messages in any 1 s.

Targets: engine >= 0.5 x smtp-source on loopback; per connection >= 1.8 x smtp-source
(smtp-sink) and >= 3 x (Postfix with CHUNKING), linear from 1 to 100 connections; rates
within 2% and never above in any 1 s. Usage:
python bench/pipeline_throughput.py [N] [--no-engine] [--no-postfix] [--rates-only]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    HERE,
    delayed,
    free_port,
    local_server,
    source_rate,
    start,
    start_sink,
    stop,
)

from smtpdesk.core.smtp.pool import ServerPool

DELAY_MS = 10
WINDOW = 4
PARAGRAPH = (
    "We are writing to let you know about the changes to our opening hours "
    "over the coming holiday season, and to thank you for being with us. "
)


def message(i: int) -> bytes:
    text = (
        f"From: News <news@example.test>\r\nTo: Reader {i} <reader{i}@example.test>\r\n"
        f"Subject: Our holiday hours, reader {i}\r\nMessage-ID: <b{i}@example.test>\r\n\r\n"
        f"Dear reader {i},\r\n\r\n" + PARAGRAPH * 14 + f"\r\n\r\nYour code: {i:08d}\r\n"
    )
    return text.encode()


async def pool_rate(port: int, conns: int, count: int, per_conn: int = WINDOW) -> float:
    settings = local_server(port, conns, wait_timeout=120, idle_timeout=120)
    pool = ServerPool(settings, None, command_timeout=60)
    data = [message(i) for i in range(count)]
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await pool.send(data[i], sender="news@example.test", recipients=[f"r{i}@example.test"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns * per_conn)))
    elapsed = time.perf_counter() - started
    await pool.close()
    assert pool.stats().sent == count, pool.stats()
    return count / elapsed


@contextlib.contextmanager
def real_postfix() -> Iterator[int | None]:
    """A private Postfix (tests/helpers/postfix.py) on a free port; None when it cannot run."""
    sys.path.insert(0, str(HERE.parent))
    from tests.helpers import postfix as helper

    if os.geteuid() != 0 or not helper.MASTER.exists():
        yield None
        return
    with helper.running_postfix() as server:
        yield server.ports["chunking"]


def per_connection(
    say: object, target: int, name: str, conns_list: tuple[int, ...], goal: float
) -> None:
    assert callable(say)
    say(f"behind a {DELAY_MS} ms delay each way, {name} (msg/s per connection):")
    say(f"  conns  pool(window {WINDOW})  pool(1 each)  smtp-source  ratio  (target >= {goal})")
    with delayed(target, DELAY_MS) as port:
        for conns in conns_list:
            n = max(200, 60 * conns)
            windowed = asyncio.run(pool_rate(port, conns, n)) / conns
            single = asyncio.run(pool_rate(port, conns, max(100, 25 * conns), per_conn=1)) / conns
            source = source_rate(port, conns, max(100, 25 * conns)) / conns
            ratio = windowed / source
            verdict = "met" if ratio >= goal else "NOT met"
            figures = f"{windowed:17.1f} {single:13.1f} {source:12.1f} {ratio:6.2f}"
            say(f"  {conns:5d} {figures}  {verdict}")


def rated_run(folder: Path, port: int, count: int, rate: float) -> list[float]:
    """One campaign at ``rate`` messages a second: each message's ``sent_at``, in order."""
    import engine_throughput as engine

    from smtpdesk.core.campaign.engine import CampaignRunner
    from smtpdesk.core.campaign.ledger import Ledger
    from smtpdesk.core.store import open_store

    store = open_store(folder)
    try:
        server = engine.sink_server(port)
        store.put_server(server)
        ledger = Ledger(store)
        campaign = ledger.create_campaign("rate", engine.CONTENT, message_rate=rate)
        ledger.insert_recipients(campaign, engine.recipients(count))
        asyncio.run(CampaignRunner(store, campaign).run())
        assert ledger.counts(campaign).sent == count
        times = engine.sent_times(store, campaign)
        store.delete_server(server.uuid)
        return times
    finally:
        store.close()


def most_in_a_second(times: list[float]) -> int:
    """The most messages whose sent_at fall within any 1 s (a sliding window)."""
    most = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


@contextlib.contextmanager
def stamping_sink() -> Iterator[tuple[int, list[float]]]:
    """bench/_stamp_sink.py on a free port: (port, arrival times, filled when it stops)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as temp:
        out = Path(temp) / "arrivals"
        process = start([sys.executable, str(HERE / "_stamp_sink.py"), str(port), str(out)], port)
        arrivals: list[float] = []
        try:
            yield port, arrivals
        finally:
            stop(process)
            arrivals.extend(sorted(float(line) for line in out.read_text().split()))


def rate_section(say: object) -> None:
    """The engine at 100 and 1,000 msg/s (one process: a limited rate never uses workers).

    Counted twice: when each message's end of data reached the server (its own process
    and clock: what a provider limiting "messages a second" counts) and by the ledger's
    sent_at (when the engine noted the server's reply; later, and bunched by the loop).
    """
    assert callable(say)
    for rate, n in ((100.0, 1500), (1000.0, 15000)):
        with tempfile.TemporaryDirectory() as temp, stamping_sink() as (port, arrivals):
            times = rated_run(Path(temp), port, n, rate)
        achieved = (n - 1) / (times[-1] - times[0])
        say(
            f"  configured {rate:5,.0f} msg/s, {n:,} messages: achieved {achieved:,.1f} msg/s "
            f"({(achieved / rate - 1) * 100:+.2f}%, target within 2%); most in any 1 s: "
            f"{most_in_a_second(arrivals)} arriving, {most_in_a_second(times)} by sent_at "
            f"(target <= {rate:,.0f})"
        )


def engine_section(say: object, sink: int, count: int) -> None:
    import engine_throughput as engine

    assert callable(say)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        engine.engine_run(folder, sink, 500, rate=engine.MAX_RATE)  # warm up
        rates = {}
        # worker processes (core/campaign/workers.py): off (0), then auto (one per core)
        for workers, concurrency in itertools.product((0, None), (8, 32)):
            rates[workers, concurrency], _, size = engine.engine_run(
                folder, sink, count, rate=engine.MAX_RATE, concurrency=concurrency, workers=workers
            )
        source = source_rate(sink, 8, count)
        say(f"loopback, 8 connections, {count:,} personalised messages of {size:,} bytes:")
        for (workers, concurrency), rate in rates.items():
            verdict = "met" if rate / source >= 0.5 else "NOT met"
            processes = "one process " if workers == 0 else f"{os.cpu_count()} workers   "
            say(
                f"  engine, {processes}, concurrency {concurrency:2d}  {rate:8,.0f} msg/s  "
                f"{rate / source:5.2f} x smtp-source  (target >= 0.5: {verdict})"
            )
        say(f"  smtp-source -s 8           {source:8,.0f} msg/s")
    rate_section(say)


def main() -> int:
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "20000"))

    def say(text: str) -> None:
        print(text, flush=True)

    load = os.getloadavg()
    say(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, nproc {os.cpu_count()}, "
        f"load {load[0]:.1f}, Python {platform.python_version()}, {platform.platform()}"
    )
    if "--rates-only" in sys.argv:
        rate_section(say)
        return 0
    sink_port = free_port()
    sink = start_sink(sink_port)
    try:
        asyncio.run(pool_rate(sink_port, 8, 500))  # warm up
        if "--no-engine" not in sys.argv:
            engine_section(say, sink_port, count)
        per_connection(say, sink_port, "smtp-sink (PIPELINING)", (1, 8, 32, 100), 1.8)
    finally:
        stop(sink)
    if "--no-postfix" not in sys.argv:
        with real_postfix() as port:
            if port is None:
                say("real Postfix: not run (needs root and the postfix package)")
            else:
                per_connection(say, port, "real Postfix (PIPELINING, CHUNKING)", (1, 8), 3.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
