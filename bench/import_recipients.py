"""Import 1,000,000 recipients from a CSV file: time and peak memory (target: 60 s, 300 MB).

Run: ``.venv/bin/python bench/import_recipients.py [ROWS]``. The file is written
first (by this process), then a fresh child process imports it into a fresh
store so its peak resident memory (``ru_maxrss``) is the import's alone.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 1_000_000
CITIES = ["Paris", "Köln", "São Paulo", "Zürich", "Oslo", "Kyoto", "Lagos", "Lima"]


def write_file(path: Path, rows: int) -> None:
    rng = random.Random(4)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,name,city,code\n")
        for i in range(rows):
            name = f"Person {i}"
            handle.write(
                f'user{i}@example{i % 97}.com,"{name}",{rng.choice(CITIES)},'
                f"{rng.randrange(10**6):06d}\n"
            )


def child(path: str, folder: str) -> None:
    from smtpdesk.core.campaign.content import CampaignContent
    from smtpdesk.core.campaign.ledger import Ledger
    from smtpdesk.core.campaign.recipients import import_file
    from smtpdesk.core.store import open_store

    store = open_store(folder)
    ledger = Ledger(store)
    campaign = ledger.create_campaign(
        "bench", CampaignContent(subject="s", from_address="a@example.com", text="{{ name }}")
    )
    start = time.perf_counter()
    report = import_file(ledger, campaign, path)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    print(
        json.dumps(
            {"rows": report.rows, "valid": report.valid, "seconds": seconds, "peak_mb": peak_mb}
        )
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipients.csv"
        write_file(path, rows)
        size_mb = path.stat().st_size / 1e6
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(path), folder],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out)
    print(f"rows: {result['rows']:,} ({size_mb:.0f} MB file), valid: {result['valid']:,}")
    print(
        f"import: {result['seconds']:.1f} s ({result['rows'] / result['seconds']:,.0f} rows/s), "
        f"target <= 60 s"
    )
    print(
        f"peak memory: {result['peak_mb']:.0f} MB (ru_maxrss of the importing process), "
        f"target <= 300 MB"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
