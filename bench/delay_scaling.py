"""Is "per connection, 1 to 100 connections" through a 10 ms delay limited by the delay proxy?

The same measurement as bench/pipeline_throughput.py's delay table (the pool with 4 sends per
connection, and smtp-source, to smtp-sink, in msg/s per connection), through two proxies that
delay each direction by 10 ms: bench/_proxy.py (Python, asyncio) and bench/_cproxy.c (C, one
epoll loop, built here with cc). For each run it also prints the proxy's CPU time per second
of the run, and a probe's round trip (NOOP) through the proxy while the run goes on: a proxy
that cannot keep up lengthens every round trip, which costs every connection alike.
(A kernel delay, netem on a veth pair in a network namespace, was the first idea: this
kernel has no sch_netem, nor fq or etf.)
Usage: python bench/delay_scaling.py [--conns 1,8,32,100]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from _common import HERE, free_port, source_rate, start, start_sink, stop
from pipeline_throughput import DELAY_MS, pool_rate

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@contextlib.contextmanager
def proxy(kind: str, target: int, build: Path) -> Iterator[tuple[int, int]]:
    """(port, pid) of a delaying proxy in front of ``target``."""
    port = free_port()
    command = [sys.executable, str(HERE / "_proxy.py")] if kind == "python" else [str(build)]
    process = start([*command, str(port), str(target), str(DELAY_MS)], port)
    try:
        yield port, process.pid
    finally:
        stop(process)


class Probe(threading.Thread):
    """NOOP round trips through the proxy, one every 50 ms, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.times, self.done = port, [], threading.Event()

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            reader = sock.makefile("rb")
            reader.readline()
            sock.sendall(b"HELO probe.example.test\r\n")
            reader.readline()
            while not self.done.is_set():
                started = time.perf_counter()
                sock.sendall(b"NOOP\r\n")
                reader.readline()
                self.times.append(time.perf_counter() - started)
                time.sleep(0.05)
            sock.sendall(b"QUIT\r\n")

    def median_ms(self) -> float:
        self.done.set()
        self.join()
        return statistics.median(self.times) * 1000 if self.times else float("nan")


def client_cpu() -> float:
    """CPU seconds of this process (the pool) and its finished children (smtp-source)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(pid: int, port: int, run: object) -> tuple[float, float, float, float]:
    """(result of run(), proxy and client CPU seconds per second, probe round trip in ms)."""
    assert callable(run)
    probe = Probe(port)
    cpu, client, started = cpu_seconds(pid), client_cpu(), time.perf_counter()
    probe.start()
    result = run()
    elapsed = time.perf_counter() - started
    rtt = probe.median_ms()
    used = (cpu_seconds(pid) - cpu) / elapsed, (client_cpu() - client) / elapsed
    return result, *used, rtt


def pooled(port: int, conns: int) -> float:
    return asyncio.run(pool_rate(port, conns, max(200, 60 * conns))) / conns


def figures(values: list[float]) -> str:
    proxy_cpu, own_cpu, rtt = values
    return f"{proxy_cpu:9.2f} {own_cpu:7.2f} {rtt:6.1f}"


def main() -> int:
    conns_list = (1, 8, 32, 100)
    if "--conns" in sys.argv:
        conns_list = tuple(int(c) for c in sys.argv[sys.argv.index("--conns") + 1].split(","))
    load = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}, load {load[0]:.1f}, "
        f"Python {platform.python_version()}, {platform.platform()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as temp:
        build = Path(temp) / "cproxy"
        subprocess.run(["cc", "-O2", "-o", str(build), str(HERE / "_cproxy.c")], check=True)
        sink_port = free_port()
        sink = start_sink(sink_port)
        try:
            for kind in ("python", "c"):
                print(f"{kind} proxy, {DELAY_MS} ms each way, to smtp-sink (msg/s per connection):")
                columns = "proxy-cpu own-cpu rtt-ms"
                print(f"  conns  pool(window 4) {columns}  smtp-source {columns}")
                with proxy(kind, sink_port, build) as (port, pid):
                    for conns in conns_list:
                        pool, *pool_figures = measured(pid, port, lambda c=conns: pooled(port, c))
                        source, *source_figures = measured(
                            pid, port, lambda c=conns: source_rate(port, c, max(100, 25 * c)) / c
                        )
                        print(
                            f"  {conns:5d} {pool:14.1f} {figures(pool_figures)}"
                            f" {source:12.1f} {figures(source_figures)}",
                            flush=True,
                        )
        finally:
            stop(sink)
    return 0


if __name__ == "__main__":
    sys.exit(main())
