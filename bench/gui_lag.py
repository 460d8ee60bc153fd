"""GUI responsiveness while a campaign sends at full speed (prints numbers).

With the main window and the campaign's live panel shown (offscreen Qt), 20,000
messages go to Postfix's ``smtp-sink`` with no rate limit, while a 10 ms QTimer records
how late each of its ticks fires. The GUI sends as the app does since issue 13 section 3:
it starts a sending process (``campaign serve``, the CLI's engine, with its worker
processes) and follows it over the local channel; the GUI thread only draws its progress.
The same campaign is then sent by the CLI (``smtpdesk campaign send``) for comparison.
Both throughputs come from the ledger's own started/finished timestamps (written by the
process that sends), so process start-up is not counted against either.

Targets (issue 13): 99th-percentile lateness <= 20 ms; GUI throughput >= 95% of the CLI's.
A second measurement, ``--report-rows N``, opens the per-recipient report of a campaign
of N recipients (default 1,000,000), jumps to the end and scrolls through it, timing the
page fetches and the same 10 ms timer's lateness.

Usage: python bench/gui_lag.py [N] [--write]   (--write appends to bench/RESULTS.md)
       python bench/gui_lag.py --report-rows [N]
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import free_port, start_sink
from engine_throughput import CONTENT, recipients, sink_server

from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.store import Store, open_store

HERE = Path(__file__).resolve().parent
TICK_MS = 10
CONNS = 8
NAMES = ("cli-before", "gui", "cli-after")


def make_campaign(store: Store, count: int, name: str) -> int:
    ledger = Ledger(store)
    campaign = ledger.create_campaign(
        name, CONTENT, message_rate=100000.0, concurrency=CONNS * 2, max_send_errors=0
    )
    ledger.insert_recipients(campaign, recipients(count))
    return campaign


def ledger_rate(store: Store, campaign: int) -> float:
    ledger = Ledger(store)
    c = ledger.campaign(campaign)
    counts = ledger.counts(campaign)
    assert counts.sent == counts.total, counts
    assert c.started_at is not None and c.finished_at is not None
    return counts.sent / (c.finished_at - c.started_at)


class LagMeter:
    """A 10 ms repeating QTimer; records how late each tick is, in milliseconds."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.samples: list[float] = []
        self.cpu = 0.0  # the GUI process's CPU seconds a second while it ran
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.samples.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now


def gui_run(folder: Path, campaign: int) -> tuple[list[float], float, float]:
    """Send ``campaign`` from the GUI; (lateness samples in ms, wall seconds, GUI CPU/s)."""
    import keyring
    import qasync

    from smtpdesk.core.memory_keyring import MemoryKeyring
    from smtpdesk.ui.app import build_main_window, create_application
    from smtpdesk.ui.screenshots import _quiet_offscreen_warnings

    keyring.set_keyring(MemoryKeyring())
    _quiet_offscreen_warnings()
    app = create_application([sys.argv[0]])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    store = open_store(folder)
    window = build_main_window(store)
    window.show()
    meter = LagMeter()

    async def scenario() -> float:
        await asyncio.sleep(0.5)  # let the first loads finish
        window.open_live_panel(campaign, autorun=True)
        panel = window.windows[f"live-{campaign}"]
        started, cpu = time.perf_counter(), time.process_time()
        meter.start()
        while panel.control.state != "finished":  # noqa: ASYNC110 (a Qt-side state)
            await asyncio.sleep(0.05)
        meter.stop()
        meter.cpu = (time.process_time() - cpu) / (time.perf_counter() - started)
        return time.perf_counter() - started

    with loop:
        wall = loop.run_until_complete(scenario())
        window._closing_confirmed = True
        window.close()
        loop.run_until_complete(window.bridge.drain())
        window.bridge.shutdown()
    store.close()
    return meter.samples, wall, meter.cpu


def cli_run(folder: Path, campaign: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "smtpdesk",
            "--data-dir",
            str(folder),
            "campaign",
            "send",
            str(campaign),
            "--no-progress",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report_run(rows: int) -> str:
    """Scroll the recipient report of a campaign with ``rows`` recipients; a summary line."""
    import qasync

    from smtpdesk.ui.app import create_application
    from smtpdesk.ui.bridge import Bridge
    from smtpdesk.ui.recipient_report import RecipientReport
    from smtpdesk.ui.screenshots import _quiet_offscreen_warnings

    _quiet_offscreen_warnings()
    with tempfile.TemporaryDirectory(prefix="smtpdesk-report-") as tmp:
        store = open_store(Path(tmp))
        campaign = make_campaign(store, 0, "big")
        ledger = Ledger(store)
        started = time.perf_counter()
        for first in range(0, rows, 50_000):
            ledger.insert_recipients(
                campaign,
                [
                    {"line": i + 2, "email": f"reader{i}@example.com", "fields": {"n": str(i)}}
                    for i in range(first, min(first + 50_000, rows))
                ],
            )
        filled = time.perf_counter() - started
        app = create_application([sys.argv[0]])
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        bridge = Bridge(store)
        meter = LagMeter()

        async def scenario() -> tuple[float, list[float]]:
            report = RecipientReport(bridge, campaign)
            report.show()
            opened = time.perf_counter()
            while report.model.rowCount() != rows:  # noqa: ASYNC110 (Qt-side state)
                await asyncio.sleep(0.005)
            counted = time.perf_counter() - opened
            meter.start()
            bar = report.table.verticalScrollBar()
            fetches: list[float] = []
            for value in [bar.maximum(), *range(0, bar.maximum(), bar.maximum() // 40)]:
                bar.setValue(value)
                asked = time.perf_counter()
                row = report.table.rowAt(5)
                index = report.model.index(max(row, 0), 1)
                while report.model.data(index) == "…":  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
                fetches.append((time.perf_counter() - asked) * 1000)
            meter.stop()
            report.close()
            return counted, fetches

        with loop:
            counted, fetches = loop.run_until_complete(scenario())
            loop.run_until_complete(bridge.drain())
            bridge.shutdown()
        store.close()
    return (
        f"report of {rows:,} recipients (filled in {filled:.0f} s): count {counted * 1000:.0f} ms;"
        f" page shown after a jump: median {statistics.median(fetches):.0f} ms, max "
        f"{max(fetches):.0f} ms ({len(fetches)} jumps); 10 ms timer lateness p99 "
        f"{percentile(meter.samples, 99):.1f} ms, max {max(meter.samples):.1f} ms"
    )


def main() -> int:
    if "--report-rows" in sys.argv:
        rows = int(next((a for a in sys.argv[1:] if a.isdigit()), "1000000"))
        print(report_run(rows))
        return 0
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "20000"))
    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.TemporaryDirectory(prefix="smtpdesk-guilag-") as tmp:
            folder = Path(tmp)
            store = open_store(folder)
            store.put_server(sink_server(port))
            # the CLI before and after the GUI: the other load on the machine moves meanwhile
            before, gui_campaign, after = (make_campaign(store, count, n) for n in NAMES)
            cli_wall = cli_run(folder, before)
            samples, gui_wall, gui_cpu = gui_run(folder, gui_campaign)
            cli_wall = (cli_wall + cli_run(folder, after)) / 2
            gui_rate = ledger_rate(store, gui_campaign)
            cli_rates = (ledger_rate(store, before), ledger_rate(store, after))
            store.close()
    finally:
        sink.terminate()
        sink.wait()
    report = format_report(count, samples, gui_rate, cli_rates, gui_wall, cli_wall, gui_cpu)
    print(report)
    if "--write" in sys.argv:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as handle:
            handle.write("\n" + report + "\n")
    return 0


def format_report(
    count: int,
    samples: list[float],
    gui_rate: float,
    cli_rates: tuple[float, float],
    gui_wall: float,
    cli_wall: float,
    gui_cpu: float,
) -> str:
    p99 = percentile(samples, 99)
    ratio = gui_rate / (sum(cli_rates) / 2)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"{when}, load {os.getloadavg()[0]:.1f}, nproc {os.cpu_count()}, "
            f"Python {platform.python_version()}, {platform.platform()}",
            "",
            "```",
            f"{count} messages to smtp-sink, {CONNS} connections, no rate limit, offscreen Qt;"
            " the GUI follows its sending process",
            f"10 ms QTimer lateness while the GUI sends ({len(samples)} ticks):",
            f"  median {statistics.median(samples):6.1f} ms   p95 {percentile(samples, 95):6.1f} ms"
            f"   p99 {p99:6.1f} ms   max {max(samples):6.1f} ms"
            f"   (target p99 <= 20 ms: {'met' if p99 <= 20 else 'NOT met'})",
            f"throughput (ledger started..finished): GUI {gui_rate:7.0f} msg/s, "
            f"CLI {cli_rates[0]:.0f} before and {cli_rates[1]:.0f} after, ratio {ratio:.2f}"
            f"   (target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})",
            f"wall time: GUI {gui_wall:.1f} s (panel open to finished), "
            f"CLI {cli_wall:.1f} s on average (process start to exit); the GUI process used "
            f"{gui_cpu:.2f} CPU s a second meanwhile",
            "```",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
