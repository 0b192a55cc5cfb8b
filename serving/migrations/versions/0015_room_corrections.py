"""Room corrections: each request to correct a photo's room note, with its reason in words.

A correction's `photo_room_corrected` audit entry was its only record and held the
inspector's reason word for word (up to 500 characters) in the log, which nothing may erase.
A correction now keeps its reason in this table, and its entry the reason's `reason_sha256`
and the row's id (`correction_id`), as a decision's does (serving.room_check verifies the two
against each other). Entries written before this revision keep their words and have no row:
they stay valid, and the family page shows only the corrections made since.

Plain CREATE TABLE on both databases, as in 0008.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("previous_room_hint", sa.String(length=32), nullable=True),
        sa.Column("room_hint", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("corrected_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unchanged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["corrected_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["family_id"], ["families.id"]),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_room_corrections_family_id"), "room_corrections", ["family_id"], unique=False
    )
    op.create_index(
        op.f("ix_room_corrections_photo_id"), "room_corrections", ["photo_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_room_corrections_photo_id"), table_name="room_corrections")
    op.drop_index(op.f("ix_room_corrections_family_id"), table_name="room_corrections")
    op.drop_table("room_corrections")
