"""A heartbeat lease for the process sending a campaign.

``campaigns.runner_heartbeat`` is the time (epoch seconds) the runner last renewed its
claim. A lease older than ``ledger.LEASE_SECONDS`` means the runner is gone (killed,
crashed, or its machine slept), on every platform: no process-id check is needed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("runner_heartbeat", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("runner_heartbeat")
