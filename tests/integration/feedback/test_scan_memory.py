"""A big mailbox is scanned one message at a time, never held in memory (issue 12)."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.store import Store
from tests.helpers.dovecot import Dovecot, save_mailbox

COUNT = 400
SIZE = 64 * 1024  # 25 MB of mail in all


def test_scanning_many_large_messages_keeps_memory_small(
    store: Store, dovecot: Dovecot, trust_test_ca: Path
) -> None:
    user = dovecot.add_user()
    filler = (b"x" * 76 + b"\n") * (SIZE // 77)
    for n in range(COUNT):
        head = f"From: a{n}@example.org\nSubject: note {n}\nMessage-ID: <big{n}@example.org>\n\n"
        dovecot.deliver(user, head.encode() + filler)
    save_mailbox(store, dovecot, user, processed="read")

    tracemalloc.start()
    try:
        result = asyncio.run(scanning.scan(store))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.ok and result.read == COUNT and result.counts.ignored == COUNT
    # a few messages' worth at a time (imaplib's buffers, the parse), not the mailbox
    assert peak < 40 * SIZE, f"peak {peak:,} bytes for {COUNT * SIZE:,} bytes of mail"
