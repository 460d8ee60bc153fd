"""What the campaign commands share: reading their input files, the --sliding-window
option, the import report and the progress bar (``send``, ``follow``)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from smtpdesk.commands.common import read_text
from smtpdesk.core.campaign import recipients as recipient_files
from smtpdesk.core.campaign.ledger import CampaignState
from smtpdesk.core.campaign.progress import Progress

SHOWN_PROBLEMS = 10
BAR_WIDTH = 30
EXIT_OK, EXIT_STOPPED = 0, 1
EXIT_NO_SERVER = 3  # paused because no server of the messenger could take any message


def run_exit_code(state: str, blocked: object) -> int:
    """``send``, ``resume``, ``serve`` and ``follow``: 0 finished, 3 no server could send
    (``blocked``: its diagnosis), 1 stopped otherwise."""
    if state == CampaignState.FINISHED:
        return EXIT_OK
    return EXIT_NO_SERVER if blocked is not None else EXIT_STOPPED


def read_file(path: str | None) -> str:
    return read_text(path) if path else ""


def sliding_window(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    count, _, duration = text.partition("/")
    return {
        "sliding_window": True,
        "sliding_window_rate": count,
        "sliding_window_duration": duration or "1h",
    }


def print_import(report: recipient_files.ImportReport) -> None:
    print(
        f"{report.valid} recipients imported, {report.invalid} invalid, "
        f"{report.duplicates} duplicates",
        file=sys.stderr,
    )
    for problem in report.problems[:SHOWN_PROBLEMS]:
        print(
            f"  line {problem.line}: {problem.address or '(empty)'}: {problem.reason}",
            file=sys.stderr,
        )
    if len(report.problems) > SHOWN_PROBLEMS:
        print(
            f"  ... and {report.invalid + report.duplicates - SHOWN_PROBLEMS} more", file=sys.stderr
        )


class ProgressBar:
    """One line on a terminal, redrawn in place."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr  # looked up now: tests and callers swap stderr
        self.drawn = False

    def __call__(self, progress: Progress) -> None:
        counts = progress.counts
        total = counts.total or 1
        filled = int(BAR_WIDTH * counts.done / total)
        eta = "" if progress.eta is None else f" ETA {clock(progress.eta)}"
        note = f" ({progress.waiting})" if progress.waiting else ""
        line = (
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {counts.done}/{counts.total} "
            f"sent {counts.sent} failed {counts.failed} skipped {counts.skipped} "
            f"{progress.rate:.0f}/s{eta}{note}"
        )
        self.stream.write(line.ljust(100))
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.stream.write("\n")


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
