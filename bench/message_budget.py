"""CPU per message along render -> MIME -> transaction -> ledger (issue 13, section 2).

CPU time (``time.process_time``), not wall time, so other work on the machine does not
count: each stage alone over N messages, then the whole engine, and smtp-source's own
CPU per message (its children's rusage) for the same sink. Prints microseconds a message.
Usage: python bench/message_budget.py [N]
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import engine_throughput as engine
from _common import free_port, source_rate, start_sink, stop
from pipeline_throughput import pool_rate

from smtpdesk.core.campaign import review
from smtpdesk.core.campaign.content import Renderer
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.store import open_store


def cpu_per(count: int, work: object) -> float:
    assert callable(work)
    started = time.process_time()
    work()
    return (time.process_time() - started) / count * 1e6


def engine_cpu(folder: Path, port: int, count: int, workers: int = 0) -> tuple[float, float]:
    """CPU seconds of one campaign's run (the campaign and its recipients made beforehand):
    this process's and its worker processes' (``workers``: the app's worker_processes)."""
    store = open_store(folder)
    try:
        store.put_app_settings(replace(store.app_settings(), worker_processes=workers))
        server = engine.sink_server(port)
        store.put_server(server)
        ledger = Ledger(store)
        campaign = ledger.create_campaign(
            "budget", engine.CONTENT, message_rate=engine.MAX_RATE, concurrency=8
        )
        ledger.insert_recipients(campaign, engine.recipients(count))
        started, children = time.process_time(), _children_cpu()
        asyncio.run(CampaignRunner(store, campaign).run())
        spent = time.process_time() - started
        assert ledger.counts(campaign).sent == count
        store.delete_server(server.uuid)
        return spent, _children_cpu() - children
    finally:
        store.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    renderer = Renderer(engine.CONTENT)
    people = engine.recipients(count)
    fields = [review.template_fields(str(p["email"]), p["fields"], {}) for p in people]  # type: ignore[arg-type]

    def parts() -> None:
        for f in fields:
            renderer.render_parts(renderer.link_fields(f))

    def whole() -> None:
        for f in fields:
            renderer.render(f)

    render_us = cpu_per(count, parts)
    message_us = cpu_per(count, whole)
    port = free_port()
    sink = start_sink(port)
    try:
        asyncio.run(pool_rate(port, 8, 500))
        pool_us = cpu_per(count, lambda: asyncio.run(pool_rate(port, 8, count, per_conn=1)))
        with tempfile.TemporaryDirectory() as temp:
            engine_cpu(Path(temp), port, 500)
            engine_us = engine_cpu(Path(temp), port, count)[0] / count * 1e6
            engine_cpu(Path(temp), port, 500, workers=2)
            parent, children = engine_cpu(Path(temp), port, count, workers=2)
        before = _children_cpu()
        source_rate(port, engine.CONNS, count)
        source_us = (_children_cpu() - before) / count * 1e6
    finally:
        stop(sink)
    print(f"CPU per message, {count:,} messages (microseconds):")
    print(f"  render (Jinja: subject, HTML, text)          {render_us:7.0f}")
    print(f"  MIME (render + build the bytes) - render     {message_us - render_us:7.0f}")
    print(f"  transaction (pool, ready bytes, 8 conns)     {pool_us:7.0f}")
    rest = engine_us - message_us - pool_us
    print(f"  engine, ledger and the rest                  {rest:7.0f}")
    print(f"  whole engine                                 {engine_us:7.0f}")
    print(f"  smtp-source (its own CPU, 8 sessions)        {source_us:7.0f}")
    print("with 2 worker processes (core/campaign/workers.py):")
    print(f"  the parent (claims, outcomes, ledger, pipes) {parent / count * 1e6:7.0f}")
    print(f"  the workers (render, MIME, send, pipes)      {children / count * 1e6:7.0f}")


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (smtp-source, the worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
