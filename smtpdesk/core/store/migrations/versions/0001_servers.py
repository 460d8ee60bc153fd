"""Servers and app-wide sending defaults.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("auth_protocol", sa.String, nullable=False),
        sa.Column("username", sa.String, nullable=False),
        sa.Column("tls_type", sa.String, nullable=False),
        sa.Column("tls_skip_verify", sa.Boolean, nullable=False),
        sa.Column("hello_hostname", sa.String, nullable=False),
        sa.Column("max_conns", sa.Integer, nullable=False),
        sa.Column("idle_timeout", sa.Float, nullable=False),
        sa.Column("wait_timeout", sa.Float, nullable=False),
        sa.Column("max_msg_retries", sa.Integer, nullable=False),
        sa.Column("msg_retry_delay", sa.Float, nullable=False),
        sa.Column("email_headers", sa.JSON, nullable=False),
        sa.Column("max_per_second", sa.Float),
        sa.Column("max_per_hour", sa.Integer),
        sa.Column("max_per_day", sa.Integer),
    )
    op.create_table(
        "app_settings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("message_rate", sa.Float, nullable=False),
        sa.Column("max_send_errors", sa.Integer, nullable=False),
        sa.Column("sliding_window", sa.Boolean, nullable=False),
        sa.Column("sliding_window_rate", sa.Integer, nullable=False),
        sa.Column("sliding_window_duration", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("app_settings")
    op.drop_table("servers")
