"""Re-scoring runs record what their scores depend on besides the model.

They record the scorer path, a digest of the engine settings and the code version
(serving/rescore_runs.py refuses a resume that differs).

NULL on runs started before this revision; their next session records its own.

Plain ALTER TABLE on both databases (SQLite has DROP COLUMN since 3.35), as in 0005. Each
column only where missing: `serving.rescore.ensure_tables` makes the table from the models
(these columns included) on a database not yet migrated past 0001, and 0002 then keeps it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (("scorer", 32), ("engine_config", 64), ("code_version", 128))


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("rescore_runs")}
    for name, length in COLUMNS:
        if name not in present:
            op.add_column("rescore_runs", sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("rescore_runs", name)
