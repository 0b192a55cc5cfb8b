"""Decisions record the family's groups they were made under (settlement, head gender).

The fairness report (serving.reports) grouped every decision by the family's record as read
at report time, so a family that moved, or whose head of household changed, counted its
earlier decisions in its new group. A decision now records the family's group under each of
serving.reports.GROUPINGS when it is made; `region` was on decisions from the start.

NULL on decisions recorded before this revision: the record they were made on is not known
(an assessment keeps the record's version and a hash, not its fields), so they are grouped by
the family's current record, as before, and the report counts them
(`grouped_by_current_record`).

Plain ALTER TABLE on both databases, as in 0009.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("settlement", "head_gender")  # families' columns of the same names and type


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("decisions", sa.Column(name, sa.String(16), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("decisions", name)
