"""The last test of each saved server: kept so the list's dot survives a restart.

A test runs on the form's current values, which may differ from what is saved. Only a
test of exactly the saved settings (and the stored password) says anything about the
saved server, so :func:`record_test` refuses the others and the dot stays as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import server_tests


@dataclass(frozen=True)
class LastTest:
    """A server's last test: passed or not, when (epoch seconds), and in a few words why."""

    ok: bool
    tested_at: float
    summary: str


def record_test(
    store: Store,
    settings: ServerSettings,
    ok: bool,
    summary: str,
    *,
    typed_password: bool = False,
    at: float | None = None,
) -> LastTest | None:
    """Keep the result when ``settings`` are the saved server's; None (nothing kept) when not.

    ``typed_password``: the test used a password typed in the form, not the stored one.
    """
    saved = next((s for s in store.servers() if s.uuid == settings.uuid), None)
    if saved is None or saved != settings or typed_password:
        return None
    result = LastTest(ok, time.time() if at is None else at, summary)
    with store.engine.begin() as conn:
        conn.execute(delete(server_tests).where(server_tests.c.server_uuid == settings.uuid))
        conn.execute(
            insert(server_tests).values(
                server_uuid=settings.uuid,
                ok=result.ok,
                tested_at=result.tested_at,
                summary=result.summary,
            )
        )
    return result


def last_tests(store: Store) -> dict[str, LastTest]:
    """Every saved server's last test, by uuid (servers never tested are absent)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(server_tests)).all()
    return {r.server_uuid: LastTest(bool(r.ok), float(r.tested_at), str(r.summary)) for r in rows}


# Settings a server test does not depend on: changing them keeps the last test's verdict.
_NOT_TESTED = frozenset(
    {
        "enabled",
        "name",
        "max_conns",
        "idle_timeout",
        "wait_timeout",
        "max_msg_retries",
        "msg_retry_delay",
        "email_headers",
        "max_per_second",
        "max_per_hour",
        "max_per_day",
    }
)


def changes_test(before: ServerSettings, after: ServerSettings) -> bool:
    """Whether the change from ``before`` to ``after`` may change the test's outcome."""
    old, new = before.to_dict(), after.to_dict()
    return any(old[k] != new[k] for k in old if k not in _NOT_TESTED)


def forget_test(store: Store, server_uuid: str) -> None:
    """Drop a server's last test: its settings changed, so the old verdict no longer holds."""
    with store.engine.begin() as conn:
        conn.execute(delete(server_tests).where(server_tests.c.server_uuid == server_uuid))
