"""Campaign engine throughput and rate accuracy against Postfix's smtp-sink (prints numbers).

1. 20,000 personalised ~2 KB messages through the whole engine (Jinja rendering, MIME,
   the pool with 8 connections, the SQLite ledger), then to the same sink:
   ``smtp-source -d -s 8 -l 2000 -m 20000``, the ``mailmerge`` tool from PyPI (no
   rate limit, ``--no-limit``) and a plain smtplib loop on one connection.
   The same message in Markdown in the default layout (issue 15): Markdown, layout and
   CSS inlining happen once per campaign, each recipient still costs one Jinja render.
2. Rate accuracy: campaigns at message_rate 100 and 1,000 per second; the achieved
   rate is measured between the first and the last message's ``sent_at``.

Targets: engine >= 2,000 msg/s and >= 4 x mailmerge; achieved rates within 2%.
``mailmerge`` is a benchmark-only dependency: ``.venv/bin/pip install mailmerge``.
Usage: python bench/engine_throughput.py [N]   (N messages for the throughput part, 20,000)
"""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

from _common import free_port, local_server, source_rate, start_sink
from sqlalchemy import select

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.layouts import default_layout_html
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.settings import MAX_RATE, ServerSettings
from smtpdesk.core.store import Store, open_store, schema

CONNS = 8
PARAGRAPH = (
    "We are writing to let you know about the changes to our opening hours "
    "over the coming holiday season, and to thank you for being with us. "
)
HTML = (
    "<html><body><h1>Our holiday hours</h1><p>Dear {{ name }},</p>"
    + "".join(f"<p>{PARAGRAPH}</p>" for _ in range(5))
    + "<p>Your code: <b>{{ code }}</b>. See you in {{ city | default('town') }}.</p>"
    + "</body></html>"
)


CONTENT = CampaignContent(
    subject="Our holiday hours, {{ name }}",
    from_address="news@example.com",
    from_name="News",
    html=HTML,
)

MARKDOWN = (
    "# Our holiday hours\n\nDear {{ name }},\n\n"
    + "".join(f"{PARAGRAPH}\n\n" for _ in range(5))
    + "Your code: **{{ code }}**. See you in {{ city | default('town') }}.\n"
)
# The same message in Markdown, in the default layout (issue 15): its CSS inlined once
LAYOUT_CONTENT = CampaignContent(
    subject="Our holiday hours, {{ name }}",
    from_address="news@example.com",
    from_name="News",
    html=MARKDOWN,
    format="markdown",
    layout="default",
    layout_html=default_layout_html(),
)


def sink_server(port: int) -> ServerSettings:
    """The server settings for smtp-sink on 127.0.0.1:``port``, with CONNS connections."""
    return local_server(port, CONNS)


def recipients(count: int) -> list[dict[str, object]]:
    return [
        {
            "line": i + 2,
            "email": f"reader{i}@example.com",
            "fields": {"name": f"Reader {i}", "code": f"{i:08d}", "city": "Lyon"},
        }
        for i in range(count)
    ]


def engine_run(
    folder: Path,
    port: int,
    count: int,
    rate: float,
    concurrency: int = CONNS,
    content: CampaignContent = CONTENT,
    workers: int | None = None,
) -> tuple[float, float, int]:
    """(messages per second over the run, over first-to-last sent_at, message size).

    ``workers``: the app setting worker_processes (None: auto, one per core; 0: off).
    """
    store = open_store(folder)
    try:
        store.put_app_settings(replace(store.app_settings(), worker_processes=workers))
        server = sink_server(port)
        store.put_server(server)
        ledger = Ledger(store)
        campaign = ledger.create_campaign(
            "bench", content, message_rate=rate, concurrency=concurrency, max_send_errors=0
        )
        ledger.insert_recipients(campaign, recipients(count))
        started = time.perf_counter()
        asyncio.run(CampaignRunner(store, campaign).run())
        elapsed = time.perf_counter() - started
        counts = ledger.counts(campaign)
        assert counts.sent == count, counts
        times = sent_times(store, campaign)
        size = len(preview_bytes(content))
        store.delete_server(server.uuid)
        return count / elapsed, (count - 1) / (times[-1] - times[0]), size
    finally:
        store.close()


def sent_times(store: Store, campaign: int) -> list[float]:
    """Each recipient's sent_at, in order (straight from the table: no ledger paging)."""
    query = select(schema.recipients.c.sent_at).where(schema.recipients.c.campaign_id == campaign)
    with store.connect() as conn:
        return sorted(t or 0.0 for t in conn.execute(query).scalars())


def preview_bytes(content: CampaignContent) -> bytes:
    from smtpdesk.core.campaign.content import preview

    fields = {"email": "reader1@example.com", "name": "Reader 1", "code": "00000001"}
    return preview(content, fields).message


def mailmerge_rate(port: int, count: int, folder: Path) -> float | None:
    tool = Path(sys.executable).with_name("mailmerge")
    if not tool.exists() and shutil.which("mailmerge") is None:
        return None
    (folder / "server.conf").write_text(
        f"[smtp_server]\nhost = 127.0.0.1\nport = {port}\nratelimit = 0\n"
    )
    template = HTML.replace("{{ city | default('town') }}", "{{ city }}")
    (folder / "template.txt").write_text(
        "TO: {{ email }}\nSUBJECT: Our holiday hours, {{ name }}\nFROM: News <news@example.com>\n"
        "CONTENT-TYPE: text/html\n\n" + template + "\n"
    )
    with (folder / "database.csv").open("w", encoding="utf-8") as handle:
        handle.write("email,name,code,city\n")
        for i in range(count):
            handle.write(f"reader{i}@example.com,Reader {i},{i:08d},Lyon\n")
    started = time.perf_counter()
    subprocess.run(
        [
            str(tool) if tool.exists() else "mailmerge",
            "--no-dry-run",
            "--no-limit",
            "--output-format",
            "raw",
            "--template",
            str(folder / "template.txt"),
            "--database",
            str(folder / "database.csv"),
            "--config",
            str(folder / "server.conf"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=folder,
    )
    return count / (time.perf_counter() - started)


def smtplib_rate(port: int, count: int) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            message = EmailMessage()
            message["From"] = "News <news@example.com>"
            message["To"] = f"reader{i}@example.com"
            message["Subject"] = f"Our holiday hours, Reader {i}"
            message.set_content(f"Dear Reader {i},\n\n" + PARAGRAPH * 12 + f"\nCode {i:08d}\n")
            smtp.send_message(message)
    return count / (time.perf_counter() - started)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000

    def say(text: str) -> None:
        print(text, flush=True)

    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.TemporaryDirectory() as temp:
            folder = Path(temp)
            engine, _, size = engine_run(folder, port, count, rate=MAX_RATE)
            say(
                f"engine (render + MIME + pool of {CONNS} + ledger), {count:,} messages of "
                f"{size:,} bytes: {engine:,.0f} msg/s (target >= 2,000)"
            )
            layout, _, size = engine_run(folder, port, count, rate=MAX_RATE, content=LAYOUT_CONTENT)
            say(
                f"engine, the same message in Markdown in the default layout (CSS inlined once), "
                f"{count:,} messages of {size:,} bytes: {layout:,.0f} msg/s "
                f"({layout / engine:.2f} x the plain HTML)"
            )
            source = source_rate(port, CONNS, count)
            say(
                f"smtp-source -d -s {CONNS} -l 2000: {source:,.0f} msg/s "
                f"(engine = {engine / source:.2f} x)"
            )
            merge = mailmerge_rate(port, min(count, 5000), folder)
            if merge is None:
                say("mailmerge: not installed (.venv/bin/pip install mailmerge)")
            else:
                say(
                    f"mailmerge (ratelimit 0, --no-limit), {min(count, 5000):,} messages: "
                    f"{merge:,.0f} msg/s (engine = {engine / merge:.1f} x, target >= 4 x)"
                )
            plain = smtplib_rate(port, count)
            say(
                f"plain smtplib loop, one connection: {plain:,.0f} msg/s "
                f"(engine = {engine / plain:.2f} x)"
            )
            for rate, n in ((100.0, 1500), (1000.0, 15000)):
                _, achieved, _ = engine_run(folder, port, n, rate=rate)
                say(
                    f"configured {rate:,.0f} msg/s, {n:,} messages: achieved {achieved:,.1f} msg/s "
                    f"({(achieved / rate - 1) * 100:+.2f}%, target within 2%)"
                )
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
