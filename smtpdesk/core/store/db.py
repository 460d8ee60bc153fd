"""The SQLite database: opened with WAL and foreign keys, migrated on open."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import Connection

from smtpdesk.core.errors import NotFoundError
from smtpdesk.core.paths import data_dir
from smtpdesk.core.settings import (
    SERVER_FIELDS,
    AppSettings,
    AuthProtocol,
    ServerSettings,
    TlsType,
)
from smtpdesk.core.store import migrate
from smtpdesk.core.store.schema import app_settings, servers

DB_NAME = "smtpdesk.db"


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _on_connect)
    return engine


def _row_to_server(row: Any) -> ServerSettings:
    data = {name: getattr(row, name) for name in SERVER_FIELDS}
    data["auth_protocol"] = AuthProtocol(data["auth_protocol"])
    data["tls_type"] = TlsType(data["tls_type"])
    data["email_headers"] = tuple((str(k), str(v)) for k, v in data["email_headers"])
    return ServerSettings(**data)


def _upsert_server(conn: Connection, settings: ServerSettings) -> None:
    values = settings.to_dict()
    where = servers.c.uuid == settings.uuid
    if conn.execute(select(servers.c.uuid).where(where)).first():
        conn.execute(servers.update().where(where).values(values))
    else:
        last = conn.execute(select(func.coalesce(func.max(servers.c.position), 0))).scalar()
        conn.execute(servers.insert().values({**values, "position": int(last or 0) + 1}))


def _replace_app_settings(conn: Connection, settings: AppSettings) -> None:
    conn.execute(app_settings.delete())
    conn.execute(app_settings.insert().values(id=1, **settings.to_dict()))


class Store:
    """Typed access to the database. Callers validate first (see core.servers)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / DB_NAME
        self.created = not self.path.exists()  # a first run: the app may set things up
        self.engine = create_sqlite_engine(self.path)
        migrate.upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # servers

    def servers(self) -> list[ServerSettings]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(servers).order_by(servers.c.position)).all()
        return [_row_to_server(r) for r in rows]

    def server(self, key: str) -> ServerSettings:
        """The server whose uuid or name is ``key``."""
        for s in self.servers():
            if key in (s.uuid, s.name):
                return s
        raise NotFoundError(
            f"No server is called {key!r}.", "Run 'smtpdesk servers list' to see them."
        )

    def put_server(self, settings: ServerSettings) -> None:
        self.put_servers([settings])

    def put_servers(self, items: list[ServerSettings], app: AppSettings | None = None) -> None:
        """Insert or update ``items`` (and the app settings) in one transaction."""
        with self.engine.begin() as conn:
            for settings in items:
                _upsert_server(conn, settings)
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
