"""The whole engine, this checkout against another one, side by side (issue 13, CPU per message).

Alternates one campaign's run (made beforehand, unlimited rate, one process, 8 connections)
from another checkout (``git worktree add /tmp/base HEAD`` before a change) and from this
one, with ``smtp-source -s 8`` in between, all to one smtp-sink, so that the machine's other
load falls on both alike. Prints, for each run, the CPU per message (``time.process_time``:
every thread of the process, the ledger writer's too), that of the loop's thread alone,
and messages a second.
Usage: python bench/engine_ab.py OTHER_CHECKOUT [N] [CONCURRENCY] [ROUNDS]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one_run(port: int, count: int, concurrency: int) -> str:
    """In a child process whose PYTHONPATH names the checkout: warm up, then one run."""
    import engine_throughput as engine

    from smtpdesk.core.campaign.engine import CampaignRunner
    from smtpdesk.core.campaign.ledger import Ledger
    from smtpdesk.core.store import open_store

    def run(folder: Path, n: int) -> tuple[float, float, float]:
        store = open_store(folder)
        try:
            store.put_app_settings(replace(store.app_settings(), worker_processes=0))
            server = engine.sink_server(port)
            store.put_server(server)
            ledger = Ledger(store)
            campaign = ledger.create_campaign(
                "ab", engine.CONTENT, message_rate=engine.MAX_RATE, concurrency=concurrency
            )
            ledger.insert_recipients(campaign, engine.recipients(n))
            cpu, loop, wall = time.process_time(), time.thread_time(), time.perf_counter()
            asyncio.run(CampaignRunner(store, campaign).run())
            cpu, loop = time.process_time() - cpu, time.thread_time() - loop
            wall = time.perf_counter() - wall
            assert ledger.counts(campaign).sent == n
            store.delete_server(server.uuid)
            return cpu, loop, wall
        finally:
            store.close()

    with tempfile.TemporaryDirectory() as temp:
        run(Path(temp), 500)
        cpu, loop, wall = run(Path(temp), count)
    return (
        f"CPU {cpu / count * 1e6:5.0f} us a message (loop thread {loop / count * 1e6:4.0f})"
        f"  {count / wall:6,.0f} msg/s"
    )


def main() -> None:
    from _common import free_port, source_rate, start_sink, stop

    other = Path(sys.argv[1]).resolve()
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    port = free_port()
    sink = start_sink(port)
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load", os.getloadavg()[0])
    try:
        for _ in range(rounds):
            for name, tree in (("other", other), ("this ", HERE.parent)):
                env = {**os.environ, "PYTHONPATH": str(tree)}
                cmd = [sys.executable, str(HERE / "engine_ab.py"), "--child"]
                args = [str(port), str(count), str(concurrency)]
                out = subprocess.run([*cmd, *args], env=env, check=True, capture_output=True)
                print(f"  {name}  {out.stdout.decode().strip()}")
            print(f"  smtp-source -s 8              {source_rate(port, 8, count):6,.0f} msg/s")
    finally:
        stop(sink)
    print("load", os.getloadavg()[0])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(one_run(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    else:
        main()
