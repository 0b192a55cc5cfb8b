"""Decisions keep the `seen_decision_id` their sender sent.

A decision request may say which of the family's decisions its sender last saw
(`seen_decision_id`, 0: none); serving.decisions gives a resend of a decision recorded since
back instead of recording it, and refuses any other decision recorded since. The id was
checked and dropped, so nobody could tell later which decisions had been checked that way,
and the reports could not tell a decision sent on purpose after another member's from an old
client's resend of its own (serving.report_overrides). A plain column, no foreign key: 0 is
no decision.

NULL on decisions recorded before this revision (not known) and on those sent without one
(API clients from before it). Plain ALTER TABLE on both databases, as in 0010.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("seen_decision_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("decisions", "seen_decision_id")
