"""Pool throughput against Postfix's smtp-sink, compared with smtp-source (prints numbers).

1. Loopback: N personalised ~2 KB messages through ServerPool (8 connections), as
   ``EmailMessage`` objects and as ready bytes (the campaign engine's path), and
   ``smtp-source -d -s 8 -m N -l 2000`` to the same sink; the rates and the ratios.
2. Through a proxy that delays each direction by 10 ms: 1, 8 and 32 connections,
   messages per second per connection for both.

Targets: loopback pool >= 0.2 x smtp-source; behind the delay, pool per-connection
rate >= 90% of smtp-source's at every connection count.
Usage: python bench/pool_throughput.py [N] [--write]   (--write appends to bench/RESULTS.md)
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP

from _common import HERE, delayed, free_port, local_server, source_rate, start_sink, stop

from smtpdesk.core.smtp.pool import ServerPool

DELAY_MS = 10
PARAGRAPH = (
    "We are writing to let you know about the changes to our opening hours "
    "over the coming holiday season, and to thank you for being with us. "
)


def personalised(i: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "News <news@example.test>"
    message["To"] = f"Reader {i} <reader{i}@example.test>"
    message["Subject"] = f"Our holiday hours, reader {i}"
    body = f"Dear reader {i},\n\n" + (PARAGRAPH * 12) + f"\n\nYour code: {i:08d}\n"
    message.set_content(body)
    return message


async def pool_rate(port: int, conns: int, count: int, raw: bool = False) -> float:
    pool = ServerPool(local_server(port, conns), None)
    messages = [personalised(i) for i in range(count)]
    wire = [(m.as_bytes(policy=SMTP), [f"reader{i}@example.test"]) for i, m in enumerate(messages)]
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            if raw:
                await pool.send(wire[i][0], sender="news@example.test", recipients=wire[i][1])
            else:
                await pool.send(messages[i])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.perf_counter() - started
    await pool.close()
    assert pool.stats().sent == count
    return count / elapsed


def main() -> int:
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "5000"))
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    sink_port = free_port()
    sink = start_sink(sink_port)
    try:
        asyncio.run(pool_rate(sink_port, 8, 200))  # warm up imports and the sink
        pool = asyncio.run(pool_rate(sink_port, 8, count))
        raw = asyncio.run(pool_rate(sink_port, 8, count, raw=True))
        source = source_rate(sink_port, 8, count)
        say(f"loopback, 8 connections, {count} messages of ~2 KB:")
        say(f"  pool, EmailMessage {pool:9.0f} msg/s")
        say(f"  pool, bytes        {raw:9.0f} msg/s")
        say(f"  smtp-source        {source:9.0f} msg/s")
        for name, rate in (("EmailMessage", pool), ("bytes", raw)):
            verdict = "met" if rate / source >= 0.2 else "NOT met"
            say(f"  ratio, {name:12s}{rate / source:6.2f}  (target >= 0.20: {verdict})")
        with delayed(sink_port, DELAY_MS) as proxy_port:
            say(f"behind a {DELAY_MS} ms delay each way (msg/s per connection):")
            say("  conns   pool  smtp-source  ratio")
            for conns in (1, 8, 32):
                n = max(100, 40 * conns)
                p = asyncio.run(pool_rate(proxy_port, conns, n)) / conns
                s = source_rate(proxy_port, conns, n) / conns
                verdict = "met" if p >= 0.9 * s else "NOT met"
                say(f"  {conns:5d} {p:6.2f} {s:12.2f} {p / s:6.2f}  (target >= 0.90: {verdict})")
    finally:
        stop(sink)
    if "--write" in sys.argv:
        write_results(lines)
    return 0


def write_results(lines: list[str]) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    header = "## Pool throughput (issue 3)"
    machine = (
        f"{datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    section = f"{header}\n\n{machine}\n\n```\n" + "\n".join(lines) + "\n```\n"
    if header in text:
        before, _, rest = text.partition(header)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
