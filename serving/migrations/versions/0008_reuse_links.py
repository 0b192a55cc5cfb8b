"""Reuse links: an upload found to be the same photo as another family's.

Before, whether a photo was reused was asked of the in-memory reuse index only when an
assessment was computed, so a photo of family A filed again later for family B left A's
assessment current with no reuse flag. The upload now writes a link in its transaction, and
an assessment records which of its photos it counted as reused; a link it did not count makes
it stale (serving.assessments). Photos filed before this revision have no links: an
assessment computed after it still asks the index, as before.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reuse_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("other_family_id", sa.String(length=64), nullable=False),
        sa.Column("other_sha256", sa.String(length=64), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "photo_id", "other_family_id", "other_sha256", name="uq_reuse_links_pair"
        ),
    )
    op.create_index(op.f("ix_reuse_links_photo_id"), "reuse_links", ["photo_id"], unique=False)
    op.create_index(
        "ix_reuse_links_other", "reuse_links", ["other_family_id", "other_sha256"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_reuse_links_other", table_name="reuse_links")
    op.drop_index(op.f("ix_reuse_links_photo_id"), table_name="reuse_links")
    op.drop_table("reuse_links")
