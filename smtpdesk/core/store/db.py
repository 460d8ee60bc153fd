"""The SQLite database: opened with WAL and foreign keys, migrated on open.

A read-only data folder (a backup, a locked-down machine) is opened read-only: reading
commands work, writes fail with a sentence naming the folder (see :func:`storage_error`).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from smtpdesk.core.errors import KnownError, NotFoundError
from smtpdesk.core.paths import create_private, data_dir, make_private
from smtpdesk.core.settings import (
    SERVER_FIELDS,
    AppSettings,
    AuthProtocol,
    DkimAlgorithm,
    OAuthProvider,
    ServerSettings,
    TlsType,
    normalise_name,
)
from smtpdesk.core.store import migrate
from smtpdesk.core.store.schema import app_settings, servers

DB_NAME = "smtpdesk.db"
MIN_FREE_BYTES = 64 * 1024 * 1024  # what we ask for when the disk fills, at the least

log = logging.getLogger(__name__)


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _on_connect_read_only(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_sqlite_engine(path: Path, read_only: bool = False) -> Engine:
    """The engine; ``read_only`` opens the file without ever writing to it or beside it.

    In a folder we cannot write, SQLite cannot make the WAL's -shm file, so the file is
    opened as immutable: nobody can change it there anyway.
    """
    if not read_only:
        engine = create_engine(f"sqlite:///{path}")
        event.listen(engine, "connect", _on_connect)
        return engine
    flags = "mode=ro" if os.access(path.parent, os.W_OK) else "mode=ro&immutable=1"
    uri = f"{path.absolute().as_uri().replace('file://', 'file:', 1)}?{flags}"
    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
    )
    event.listen(engine, "connect", _on_connect_read_only)
    return engine


def _writable(folder: Path, path: Path) -> bool:
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def read_only_error(folder: Path) -> KnownError:
    return KnownError(
        f"The data folder is read-only: {folder}.",
        "Make it writable, or choose another one with --data-dir.",
    )


def disk_full_error(folder: Path, needed: int = 0) -> KnownError:
    """Says the disk is full, how much is free and roughly how much to free."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    want = max(needed, MIN_FREE_BYTES)
    return KnownError(
        f"The disk is full: {_size(free)} free where the data folder is ({folder}).",
        f"Free at least {_size(want)} and try again.",
    )


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.0f} MB" if count >= 1024 * 1024 else f"{count // 1024} KB"


def storage_error(exc: BaseException, folder: Path, needed: int = 0) -> KnownError | None:
    """The user's sentence for a database or file error that is the machine's, else None.

    One place for the CLI, the GUI and the engine's pause reason: never SQLAlchemy's
    text with its SQL and URL.
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, OSError):
        if orig.errno == errno.ENOSPC:
            return disk_full_error(folder, needed)
        if orig.errno == errno.EROFS:
            return read_only_error(folder)
        return None
    if not isinstance(exc, DBAPIError | sqlite3.Error):
        return None
    text = str(orig).lower()
    if "database or disk is full" in text:
        return disk_full_error(folder, needed)
    if "readonly database" in text:
        return read_only_error(folder)
    return None


def _row_to_server(row: Any) -> ServerSettings:
    data = {name: getattr(row, name) for name in SERVER_FIELDS}
    data["auth_protocol"] = AuthProtocol(data["auth_protocol"])
    data["tls_type"] = TlsType(data["tls_type"])
    data["oauth_provider"] = OAuthProvider(data["oauth_provider"])
    data["dkim_algorithm"] = DkimAlgorithm(data["dkim_algorithm"])
    data["oauth_scopes"] = tuple(str(s) for s in data["oauth_scopes"])
    data["email_headers"] = tuple((str(k), str(v)) for k, v in data["email_headers"])
    return ServerSettings(**data)


def _upsert_servers(conn: Connection, items: list[ServerSettings]) -> None:
    """Update the known uuids and append the new ones, each kind in one executemany."""
    known = set(conn.execute(select(servers.c.uuid)).scalars())
    last = int(conn.execute(select(func.coalesce(func.max(servers.c.position), 0))).scalar() or 0)
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for settings in {s.uuid: s for s in items}.values():  # a uuid given twice: the last wins
        values = settings.to_dict()
        if settings.uuid in known:
            updates.append({f"new_{k}": v for k, v in values.items()} | {"key": settings.uuid})
        else:
            last += 1
            inserts.append({**values, "position": last})
    if updates:
        names = [k for k in items[0].to_dict() if k != "uuid"]
        changed: dict[str, Any] = {name: bindparam(f"new_{name}") for name in names}
        conn.execute(
            servers.update().where(servers.c.uuid == bindparam("key")).values(changed), updates
        )
    if inserts:
        conn.execute(servers.insert(), inserts)


def _replace_app_settings(conn: Connection, settings: AppSettings) -> None:
    conn.execute(app_settings.delete())
    conn.execute(app_settings.insert().values(id=1, **settings.to_dict()))


def failure_text(exc: BaseException | None, folder: Path) -> str:
    """A failure in words for a pause reason: the storage sentence when it is the disk,
    else the driver's message (never SQLAlchemy's text with its SQL and URL)."""
    if exc is None:
        return "unknown error"
    known = storage_error(exc, folder)
    if known is not None:
        return str(known)
    return str(exc.orig if isinstance(exc, DBAPIError) else exc)


class Store:
    """Typed access to the database. Callers validate first (see core.servers)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / DB_NAME
        self.created = not self.path.exists()  # a first run: the app may set things up
        self.read_only = not _writable(folder, self.path)
        if self.read_only and self.created:
            raise read_only_error(folder)
        if not self.read_only:
            create_private(self.path)  # -wal and -shm take the database's mode
            for suffix in ("", "-wal", "-shm"):
                make_private(self.path.with_name(self.path.name + suffix))
        self.engine = create_sqlite_engine(self.path, self.read_only)
        try:
            migrate.upgrade(self.engine)
        except DBAPIError as exc:
            self.engine.dispose()
            raise storage_error(exc, folder) or exc from exc
        if not self.read_only:
            self._discard_abandoned_imports()

    def _discard_abandoned_imports(self) -> None:
        """Campaigns whose import was cut short (a kill, a crash): never a usable draft."""
        from smtpdesk.core.campaign.ledger import Ledger  # the ledger builds on the store

        try:
            count = Ledger(self).discard_abandoned_imports()
        except DBAPIError as exc:  # busy or full: the next start tries again
            log.warning("abandoned imports not removed yet: %s", exc.orig)
            return
        if count:
            log.warning("removed %d campaign(s) whose import was interrupted", count)

    def require_writable(self) -> None:
        """Refuse a write command at once, before it asks for anything."""
        if self.read_only:
            raise read_only_error(self.folder)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # servers

    def servers(self) -> list[ServerSettings]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(servers).order_by(servers.c.position)).all()
        return [_row_to_server(r) for r in rows]

    def server(self, key: str) -> ServerSettings:
        """The server whose uuid or name is ``key``."""
        found = self.servers()
        for s in found:
            if key in (s.uuid, s.name):
                return s
        spelled = normalise_name(key)  # 'st_plain' was saved as 'st-plain'
        for s in found:
            if s.name and s.name == spelled:
                return s
        raise NotFoundError(
            f"No server is called {key!r}.", "Run 'smtpdesk servers list' to see them."
        )

    def put_server(self, settings: ServerSettings) -> None:
        self.put_servers([settings])

    def put_servers(self, items: list[ServerSettings], app: AppSettings | None = None) -> None:
        """Insert or update ``items`` (and the app settings) in one transaction."""
        with self.engine.begin() as conn:
            _upsert_servers(conn, items)
            if app is not None:
                _replace_app_settings(conn, app)

    def delete_server(self, server_uuid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(servers.delete().where(servers.c.uuid == server_uuid))

    # app-wide sending defaults

    def app_settings(self) -> AppSettings:
        with self.engine.connect() as conn:
            row = conn.execute(select(app_settings).where(app_settings.c.id == 1)).first()
        if row is None:
            return AppSettings()
        return AppSettings(**{f.name: getattr(row, f.name) for f in fields(AppSettings)})

    def put_app_settings(self, settings: AppSettings) -> None:
        with self.engine.begin() as conn:
            _replace_app_settings(conn, settings)

    def connect(self) -> Connection:
        return self.engine.connect()


def open_store(folder: str | Path | None = None) -> Store:
    return Store(data_dir(folder))
