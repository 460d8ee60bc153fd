"""A trusted certificate per server, and the last test of each server.

``servers.tls_pin_sha256`` is the SHA-256 of the certificate the user chose to trust
("Trust this certificate"); empty trusts the system's authorities. ``server_tests``
keeps the last test's verdict and time, so the list's dot survives a restart.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("tls_pin_sha256", sa.String, nullable=False, server_default=""))
    op.create_table(
        "server_tests",
        sa.Column(
            "server_uuid",
            sa.String(36),
            sa.ForeignKey("servers.uuid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("tested_at", sa.Float, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_tests")
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("tls_pin_sha256")
