"""A data folder as an older smtpdesk left it: its database migrated only up to a revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from smtpdesk.core.store import migrate
from smtpdesk.core.store.db import DB_NAME, create_sqlite_engine


def database_at(folder: Path, revision: str, *statements: str) -> None:
    """Create ``folder``'s database at ``revision`` and run ``statements`` (SQL) in it."""
    engine = create_sqlite_engine(folder / DB_NAME)
    config = migrate._config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()
