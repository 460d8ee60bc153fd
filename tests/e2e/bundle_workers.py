"""The frozen executable sends an unlimited-rate campaign from its worker processes.

Run by tests/e2e/check-bundle.sh with the project's venv: a recording aiosmtpd on
127.0.0.1, a data folder with one server and a campaign (worker_processes = 2), then
``EXE campaign send``. Passes when the executable ran two ``--smtpdesk-campaign-worker``
children of itself, exited 0, and the server got every recipient exactly once.
Usage: python tests/e2e/bundle_workers.py EXE
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.campaign.workers import WORKER_FLAG
from smtpdesk.core.settings import MAX_RATE
from smtpdesk.core.store import open_store
from tests.helpers.smtpd import ThreadedSmtpd, settings_for
from tests.integration.campaign.helpers import CONTENT, addresses

COUNT = 3000


def worker_children(pid: int) -> set[str]:
    """The command lines of ``pid``'s children that are campaign workers."""
    found = set()
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        for child in f.read().split():
            with open(f"/proc/{child}/cmdline", "rb") as cmd:
                line = cmd.read().replace(b"\0", b" ").decode().strip()
            if line.endswith(WORKER_FLAG):
                found.add(f"{child}: {line}")
    return found


def main(exe: str) -> int:
    with tempfile.TemporaryDirectory() as folder, ThreadedSmtpd("plain") as server:
        store = open_store(folder)
        store.put_app_settings(replace(store.app_settings(), worker_processes=2))
        store.put_server(settings_for(server))
        ledger = Ledger(store)
        campaign = ledger.create_campaign("bundle", CONTENT, message_rate=MAX_RATE, concurrency=16)
        emails = addresses(COUNT)
        ledger.insert_recipients(
            campaign,
            [{"line": i + 2, "email": e, "fields": {"name": "x"}} for i, e in enumerate(emails)],
        )
        store.close()
        command = [exe, "--data-dir", folder, "campaign", "send", str(campaign), "--no-progress"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        seen: set[str] = set()
        while process.poll() is None:
            seen |= worker_children(process.pid)
            time.sleep(0.05)
        output = process.stdout.read().decode() if process.stdout else ""
        print(output.strip())
        times = Counter(r for m in server.messages for r in m.rcpt_tos)
        problems = []
        if process.returncode != 0:
            problems.append(f"exit code {process.returncode}")
        if len(seen) < 2:
            problems.append(f"worker processes seen: {sorted(seen) or 'none'}")
        if times != dict.fromkeys(emails, 1):
            problems.append(f"received {sum(times.values())} for {len(times)} of {COUNT}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print(f"{COUNT} messages sent from {len(seen)} worker processes of the bundle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
