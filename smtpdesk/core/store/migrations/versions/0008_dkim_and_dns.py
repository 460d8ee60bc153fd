"""DKIM signing per server and the DNS server of the domain check (issue 14).

Only the signing domain, selector and algorithm: the private key lives in the keyring
(core/secrets), never in this database.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TEXT = (("dkim_domain", ""), ("dkim_selector", ""), ("dkim_algorithm", "rsa"))


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("dkim_enabled", sa.Boolean, nullable=False, server_default="0"))
        for name, default in _TEXT:
            batch.add_column(sa.Column(name, sa.String, nullable=False, server_default=default))
    with op.batch_alter_table("app_settings") as batch:
        batch.add_column(sa.Column("dns_server", sa.String, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("app_settings") as batch:
        batch.drop_column("dns_server")
    with op.batch_alter_table("servers") as batch:
        for name, _default in reversed(_TEXT):
            batch.drop_column(name)
        batch.drop_column("dkim_enabled")
