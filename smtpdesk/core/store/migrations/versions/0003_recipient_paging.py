"""Recipient pages by id and per-campaign field counts.

``ix_recipients_campaign_id`` serves ``WHERE campaign_id = ? AND id >= ? ORDER BY id``
(the report's keyset pages); ``ix_recipients_campaign_state`` already ends in the
rowid, which is the id, so it serves the same with a state. ``campaigns.field_counts``
holds how many recipients carry each field, so checking the templates needs no scan;
NULL (campaigns imported before this revision) is counted once on first use.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_recipients_campaign_id", "recipients", ["campaign_id", "id"])
    op.add_column("campaigns", sa.Column("field_counts", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("field_counts")
    op.drop_index("ix_recipients_campaign_id", table_name="recipients")
