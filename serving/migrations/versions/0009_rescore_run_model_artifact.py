"""Re-scoring runs record a digest of the model's files (model.onnx, model.json).

It stands beside their other provenance: a copy of the model edited or re-exported under the
same model_version scores otherwise, and serving/rescore_runs.py refuses to resume a run under it.

NULL on runs started before this revision; they are resumed as before (with a warning), and
their next session records its own.

Plain ALTER TABLE on both databases, as in 0006. The column only where missing:
`serving.rescore.ensure_tables` makes the table from the models (this column included) on a
database not yet migrated past 0001, and 0002 then keeps it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMN = "model_artifact"


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("rescore_runs")}
    if COLUMN not in present:
        op.add_column("rescore_runs", sa.Column(COLUMN, sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("rescore_runs", COLUMN)
