"""The feedback mailbox (issue 12): bounces, complaints and unsubscribe requests.

Each recipient keeps the Message-ID and token it was sent with and what the mailbox
learnt (``feedback``); the suppression list says from which message; new tables hold
the mailbox's settings, what was read (so nothing counts twice), every event and the
last scan.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("message_id", sa.String, nullable=True))
        batch.add_column(sa.Column("token", sa.String, nullable=True))
        batch.add_column(sa.Column("feedback", sa.String, nullable=False, server_default=""))
        batch.add_column(sa.Column("feedback_kind", sa.String, nullable=False, server_default=""))
        batch.add_column(sa.Column("feedback_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("feedback_status", sa.Text, nullable=False, server_default=""))
        batch.create_index("ix_recipients_message_id", ["message_id"])
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("source", sa.String, nullable=False, server_default=""))
    op.create_table(
        "mailbox_settings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "mailbox_processed",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("processed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "mailbox_cursor",
        sa.Column("folder", sa.String, primary_key=True),
        sa.Column("uidvalidity", sa.Integer, nullable=False),
        sa.Column("last_uid", sa.Integer, nullable=False),
    )
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("campaign_id", sa.Integer),
        sa.Column("recipient_id", sa.Integer),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_feedback_events_email", "feedback_events", ["email", "kind"])
    op.create_table(
        "mailbox_scans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("finished_at", sa.Float, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "mailbox_scans",
        "feedback_events",
        "mailbox_cursor",
        "mailbox_processed",
        "mailbox_settings",
    ):
        op.drop_table(table)
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_index("ix_recipients_message_id")
        for name in ("feedback_status", "feedback_at", "feedback_kind", "feedback", "token"):
            batch.drop_column(name)
        batch.drop_column("message_id")
