"""One serial writer for a running campaign: outcomes are buffered and committed in batches.

During a run's sending phase every write of the engine (claims, outcomes, state,
quota leases) and its reads of the servers, the suppressions and the keyring (to build
the sender) run on this writer's single thread, so SQLite sees one writer. Before and
after that phase (loading the campaign, the run's lease and its heartbeat, the final
state) the engine calls the ledger through ``asyncio.to_thread``. No database or
keyring call runs on the event loop itself (tests/integration/campaign/
test_loop_blocking.py). Claims (``pending`` to ``sending``) commit the buffered
outcomes in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from smtpdesk.core.campaign.ledger import Ledger, Outcome

T = TypeVar("T")
FLUSH_INTERVAL = 0.25  # seconds: the longest an outcome waits to be committed
FLUSH_SIZE = 2000  # or sooner, when this many are waiting


class LedgerWriter:
    def __init__(self, ledger: Ledger, campaign_id: int, interval: float = FLUSH_INTERVAL) -> None:
        self.ledger = ledger
        self.campaign_id = campaign_id
        self.interval = interval
        self._buffer: list[Outcome] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._lock = asyncio.Lock()
        self._full = asyncio.Event()
        self.commits = 0

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking ledger call on the writer's thread.

        Shielded: cancelling the caller must not cancel a write still queued in the
        executor, or outcomes taken from the buffer would be lost.
        """
        future = asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        return await asyncio.shield(future)

    def record(self, outcome: Outcome) -> None:
        self._buffer.append(outcome)
        if len(self._buffer) >= FLUSH_SIZE:
            self._full.set()

    def _take(self) -> list[Outcome]:
        taken, self._buffer = self._buffer, []
        self._full.clear()
        return taken

    def _put_back(self, taken: list[Outcome]) -> None:
        """A commit failed: keep its outcomes, ahead of newer ones, for the next try."""
        self._buffer[:0] = taken
        if len(self._buffer) >= FLUSH_SIZE:
            self._full.set()

    async def flush(self) -> None:
        async with self._lock:
            taken = self._take()
            if taken:
                try:
                    await self.call(self.ledger.apply, taken)
                except Exception:  # not CancelledError: the shielded write still goes ahead
                    self._put_back(taken)
                    raise
                self.commits += 1

    async def claim(self, after: int, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        async with self._lock:
            taken = self._take()
            try:
                rows = await self.call(self.ledger.claim, self.campaign_id, after, limit, taken)
            except Exception:  # not CancelledError: the shielded write still goes ahead
                self._put_back(taken)
                raise
            self.commits += 1
            return rows

    async def run(self) -> None:
        """Flush every ``interval`` (or when the buffer fills) until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.interval)
            await self.flush()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
