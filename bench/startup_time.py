"""Time from launch to the main window's first paint: frozen bundle vs `python -m smtpdesk`.

Usage: .venv/bin/python bench/startup_time.py [--runs N] [--bundle dist/smtpdesk/smtpdesk]

Each run starts the app with SMTPDESK_EXIT_AFTER_SHOWN=1 and SMTPDESK_T0=<time.time()>; the
app prints `shown-after-ms=<n>` at the first paint and quits (smtpdesk.ui.app.StartupProbe).
"cold" runs drop the page cache first (root: /proc/sys/vm/drop_caches; otherwise
posix_fadvise DONTNEED on the app's own files, which leaves system libraries cached);
"first start" runs use an empty data folder, so they include creating the database.
Runs on the offscreen Qt platform: this machine has no display.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def drop_caches(fallback_paths: Sequence[Path]) -> str:
    """Evict cached file pages; return how, for the report."""
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return "drop_caches"
    except OSError:
        for folder in fallback_paths:
            for path in folder.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    finally:
                        os.close(fd)
        return "fadvise"


def start_once(command: Sequence[str], data_dir: Path) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SMTPDESK_EXIT_AFTER_SHOWN="1")
    env["SMTPDESK_T0"] = repr(time.time())
    out = subprocess.run(
        [*command, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("shown-after-ms="):
            return float(line.split("=", 1)[1])
    raise RuntimeError(
        f"{command[0]} printed no shown-after-ms (exit {out.returncode}):\n{out.stdout}{out.stderr}"
    )


def measure(name: str, command: Sequence[str], files: Sequence[Path], runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first = [start_once(command, Path(tmp) / f"first-{i}") for i in range(runs)]
        warm_dir = Path(tmp) / "warm"
        start_once(command, warm_dir)  # create the database once
        warm = [start_once(command, warm_dir) for _ in range(runs)]
        cold, how = [], ""
        for _ in range(runs):
            how = drop_caches(files)
            cold.append(start_once(command, warm_dir))
    for label, values in ((f"cold ({how})", cold), ("warm", warm), ("first start", first)):
        print(
            f"{name:<16} {label:<20} median {statistics.median(values):6.0f} ms   "
            f"min {min(values):6.0f}   max {max(values):6.0f}   (n={len(values)})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "smtpdesk" / "smtpdesk")
    args = parser.parse_args()
    if not args.bundle.is_file():
        print(f"error: no bundle at {args.bundle}; run 'make package' first", file=sys.stderr)
        return 1
    venv = Path(sys.prefix)
    measure("frozen bundle", [str(args.bundle)], [args.bundle.parent], args.runs)
    measure("python -m", [sys.executable, "-m", "smtpdesk"], [venv, ROOT / "smtpdesk"], args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
