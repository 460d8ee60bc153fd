"""Campaigns, their recipients, the suppression list and per-server send counts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("pause_reason", sa.String, nullable=False),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("messenger", sa.String, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("message_rate", sa.Float, nullable=False),
        sa.Column("sliding_window", sa.Boolean, nullable=False),
        sa.Column("sliding_window_rate", sa.Integer, nullable=False),
        sa.Column("sliding_window_duration", sa.Float, nullable=False),
        sa.Column("max_send_errors", sa.Integer, nullable=False),
        sa.Column("send_at", sa.Float),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("runner_pid", sa.Integer),
    )
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "campaign_id",
            sa.Integer,
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("email", sa.String, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("cause", sa.String, nullable=False),
        sa.Column("temporary", sa.Boolean, nullable=False),
        sa.Column("server_uuid", sa.String, nullable=False),
        sa.Column("sent_at", sa.Float),
        sa.Column("reply", sa.Text, nullable=False),
    )
    op.create_index("ix_recipients_campaign_state", "recipients", ["campaign_id", "state"])
    op.create_table(
        "suppressions",
        sa.Column("email", sa.String, primary_key=True),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("added_at", sa.Float, nullable=False),
    )
    op.create_table(
        "server_sends",
        sa.Column("server_uuid", sa.String(36), nullable=False),
        sa.Column("minute", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("server_uuid", "minute"),
    )


def downgrade() -> None:
    op.drop_table("server_sends")
    op.drop_table("suppressions")
    op.drop_index("ix_recipients_campaign_state", table_name="recipients")
    op.drop_table("recipients")
    op.drop_table("campaigns")
