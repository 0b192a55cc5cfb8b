"""Sign out everywhere: `users.tokens_valid_after`, before which a user's tokens are refused.

NULL for every existing account, so tokens issued before the upgrade stay valid until they
expire or are signed out (by the user, an administrator or a password reset).

Plain ALTER TABLE on both databases (SQLite has DROP COLUMN since 3.35), not batch mode: a
batch copy of `users` would drop the old table, which the foreign keys pointing at users
refuse once any row refers to an account.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("users", "tokens_valid_after")
