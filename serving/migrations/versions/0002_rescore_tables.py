"""Re-scoring tables: rescore_runs and rescore_scores, adopted into the service's schema.

`serving.rescore.ensure_tables` created them outside Alembic before this revision, so a
database may have them already: each is created only where missing (same columns, names and
index as `ensure_tables` makes), and the downgrade drops them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _exists(table: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if not _exists("rescore_runs"):
        op.create_table(
            "rescore_runs",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("model_version", sa.String(length=128), nullable=False),
            sa.Column("since_key", sa.String(length=40), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("last_photo_id", sa.Integer(), nullable=False),
            sa.Column("scored", sa.Integer(), nullable=False),
            sa.Column("failed", sa.Integer(), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("model_version", "since_key", name="uq_rescore_runs_key"),
        )
    if not _exists("rescore_scores"):
        op.create_table(
            "rescore_scores",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("photo_id", sa.Integer(), nullable=False),
            sa.Column("model_version", sa.String(length=128), nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("score", sa.JSON(none_as_null=True), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("photo_id", "model_version", name="uq_rescore_scores_photo_model"),
        )
        with op.batch_alter_table("rescore_scores", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_rescore_scores_photo_id"), ["photo_id"], unique=False
            )


def downgrade() -> None:
    op.drop_table("rescore_scores")
    op.drop_table("rescore_runs")
