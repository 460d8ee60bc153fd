"""The suppression list: addresses that must never get mail (unsubscribed, bounced, by hand).

It spans campaigns; the engine marks a suppressed recipient ``skipped``, never drops it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select

from smtpdesk.core.errors import KnownError
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import suppressions


@dataclass(frozen=True)
class Suppression:
    email: str
    reason: str
    added_at: float
    source: str = ""  # the feedback message that put it there (issue 12)


def split_addresses(text: str) -> tuple[list[str], list[str]]:
    """(valid, invalid) addresses typed by hand, separated by commas, spaces or lines."""
    from smtpdesk.core.campaign.recipients import check_address

    valid, invalid = [], []
    for word in re.split(r"[\s,;]+", text):
        if not word:
            continue
        try:
            valid.append(check_address(word))
        except ValueError:
            invalid.append(word)
    return valid, invalid


class SuppressionList:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def suppress(self, emails: Iterable[str], reason: str = "manual") -> int:
        now = time.time()
        rows = [
            {"email": e.strip().lower(), "reason": reason, "added_at": now}
            for e in emails
            if e.strip()
        ]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            conn.execute(insert(suppressions).prefix_with("OR REPLACE"), rows)
        return len(rows)

    def unsuppress(self, emails: Iterable[str]) -> int:
        keys = [e.strip().lower() for e in emails]
        with self.engine.begin() as conn:
            result = conn.execute(delete(suppressions).where(suppressions.c.email.in_(keys)))
        return int(result.rowcount)

    def import_suppressions(self, path: str | Path, reason: str = "file") -> int:
        """Suppress every address of a CSV file's address column, or of a plain list."""
        from smtpdesk.core.campaign.recipients import inspect_file, read_rows

        info = inspect_file(path)
        if len(info.columns) == 1 and "@" in info.columns[0]:  # one address a line, no header
            with Path(path).open(encoding=info.encoding) as handle:
                return self._suppress_batches((line.strip() for line in handle), reason)
        if info.address_column is None:
            raise KnownError(
                f"No column of {path} looks like email addresses.", "Name the column 'email'."
            )
        rows = read_rows(info, info.address_column)
        return self._suppress_batches((address for _, address, _ in rows), reason)

    def _suppress_batches(self, addresses: Iterable[str], reason: str) -> int:
        count, batch = 0, []
        for address in addresses:
            batch.append(address)
            if len(batch) >= 5000:
                count += self.suppress(batch, reason)
                batch.clear()
        return count + self.suppress(batch, reason)

    def suppressed(self) -> list[Suppression]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(suppressions).order_by(suppressions.c.email)).all()
        return [Suppression(r.email, r.reason, r.added_at, r.source) for r in rows]

    def suppressed_keys(self) -> set[str]:
        with self.engine.connect() as conn:
            return {e for (e,) in conn.execute(select(suppressions.c.email))}
