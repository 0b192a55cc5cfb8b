"""An index on idempotency_keys.created_at: expired keys are found by it.

Idempotency-Keys were kept for ever. They are kept `idempotency_key_retention_hours` now, and
each keyed upload deletes a batch of the oldest expired rows (serving.idempotency), which
without this index would read the whole table each time. Rows stored before this revision are
deleted the same way once expired, a batch per keyed upload. Plain CREATE INDEX on both
databases, as in 0004.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
