"""DKIM signing cost: the signer alone, and the whole engine with signing on (prints numbers).

1. ``DkimSigner.sign`` on ~2 KB campaign messages, one thread: RSA-2048, Ed25519, both.
2. The campaign engine (render, MIME, pool of 8 connections, ledger) to Postfix's
   smtp-sink on 127.0.0.1, the server signing with RSA-2048, Ed25519, then unsigned.

Targets (issue 14): engine >= 1,000 msg/s with RSA-2048, >= 2,000 with Ed25519.
Usage: python bench/dkim_signing.py [N]   (N messages per engine run, 10,000)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import keyring
from _common import free_port, start_sink
from engine_throughput import CONTENT, recipients, sink_server

from smtpdesk.core import secrets
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.campaign.mime import MimeTemplate
from smtpdesk.core.domain.signing import DkimSigner, SigningKey, generate_key, key_to_pem
from smtpdesk.core.memory_keyring import MemoryKeyring
from smtpdesk.core.settings import MAX_RATE, DkimAlgorithm
from smtpdesk.core.store import open_store

BODY = ("We are writing to let you know about the changes to our opening hours. " * 25).strip()


def signer_rate(keys: list[SigningKey], count: int) -> float:
    template = MimeTemplate(from_name="News", from_address="news@example.com")
    messages = [
        template.build_bytes(
            to=f"reader{i}@example.com", subject=f"Hours {i}", text=BODY, html=f"<p>{BODY}</p>"
        )
        for i in range(count)
    ]
    signer = DkimSigner("example.com", keys)
    started = time.perf_counter()
    for message in messages:
        signer.sign(message)
    return count / (time.perf_counter() - started)


def engine_rate(folder: Path, port: int, count: int, algorithm: DkimAlgorithm | None) -> float:
    store = open_store(folder)
    try:
        server = sink_server(port)
        if algorithm is not None:
            server = replace(
                server,
                dkim_enabled=True,
                dkim_domain="example.com",
                dkim_selector="bench",
                dkim_algorithm=algorithm,
            )
            for kind in ("dkim-rsa", "dkim-ed25519"):
                secrets.set_dkim_key(server.uuid, kind, key_to_pem(generate_key(kind)))
        store.put_server(server)
        ledger = Ledger(store)
        campaign = ledger.create_campaign(
            "bench", CONTENT, message_rate=MAX_RATE, concurrency=8, max_send_errors=0
        )
        ledger.insert_recipients(campaign, recipients(count))
        started = time.perf_counter()
        asyncio.run(CampaignRunner(store, campaign).run())
        elapsed = time.perf_counter() - started
        assert ledger.counts(campaign).sent == count
        store.delete_server(server.uuid)
        return count / elapsed
    finally:
        store.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    keyring.set_keyring(MemoryKeyring())  # never the user's keyring
    rsa = SigningKey("bench", generate_key("dkim-rsa"))
    ed = SigningKey("bench-ed25519", generate_key("dkim-ed25519"))
    for label, keys in (("RSA-2048", [rsa]), ("Ed25519", [ed]), ("both", [rsa, ed])):
        rate = signer_rate(keys, min(count, 5000))
        print(f"signer alone, {label}: {rate:,.0f} msg/s", flush=True)
    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.TemporaryDirectory() as temp:
            for algorithm, target in (
                (DkimAlgorithm.RSA, 1000),
                (DkimAlgorithm.ED25519, 2000),
                (None, 0),
            ):
                rate = engine_rate(Path(temp), port, count, algorithm)
                name = algorithm.value if algorithm else "unsigned"
                goal = f" (target >= {target:,})" if target else ""
                print(f"engine, {name}, {count:,} messages: {rate:,.0f} msg/s{goal}", flush=True)
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
