"""The tables, in SQLAlchemy Core. Alembic revisions in ``migrations/`` create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

servers = Table(
    "servers",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("name", String, nullable=False),
    Column("host", String, nullable=False),
    Column("port", Integer, nullable=False),
    Column("auth_protocol", String, nullable=False),
    Column("username", String, nullable=False),
    Column("tls_type", String, nullable=False),
    Column("tls_skip_verify", Boolean, nullable=False),
    Column("hello_hostname", String, nullable=False),
    Column("max_conns", Integer, nullable=False),
    Column("idle_timeout", Float, nullable=False),
    Column("wait_timeout", Float, nullable=False),
    Column("max_msg_retries", Integer, nullable=False),
    Column("msg_retry_delay", Float, nullable=False),
    Column("email_headers", JSON, nullable=False),
    Column("max_per_second", Float),
    Column("max_per_hour", Integer),
    Column("max_per_day", Integer),
)

app_settings = Table(
    "app_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("concurrency", Integer, nullable=False),
    Column("message_rate", Float, nullable=False),
    Column("max_send_errors", Integer, nullable=False),
    Column("sliding_window", Boolean, nullable=False),
    Column("sliding_window_rate", Integer, nullable=False),
    Column("sliding_window_duration", Float, nullable=False),
)
