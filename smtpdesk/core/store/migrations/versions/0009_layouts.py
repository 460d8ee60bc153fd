"""Saved layouts (issue 15): a name and the HTML around a campaign's ``{{ content }}``.

The default layout ships with the app (resources/layouts/) and is not stored here.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "layouts",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("layouts")
