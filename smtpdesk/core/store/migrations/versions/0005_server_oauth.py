"""OAuth 2.0 sign-in (XOAUTH2) settings of a server.

Only the provider, its endpoints, the client ID and the scopes: the refresh token and
the optional client secret live in the keyring (core/secrets), never in this database.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("oauth_provider", "google"),
    ("oauth_tenant", "common"),
    ("oauth_client_id", ""),
    ("oauth_authorize_url", ""),
    ("oauth_token_url", ""),
)


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        for name, default in _COLUMNS:
            batch.add_column(sa.Column(name, sa.String, nullable=False, server_default=default))
        batch.add_column(sa.Column("oauth_scopes", sa.JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("oauth_scopes")
        for name, _default in reversed(_COLUMNS):
            batch.drop_column(name)
