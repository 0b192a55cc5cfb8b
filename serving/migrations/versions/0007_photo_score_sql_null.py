"""A photo without a score (or a quality verdict) holds SQL NULL, not the JSON text "null".

`Photo.score` and `Photo.quality` were plain JSON columns, which store Python's None as the
JSON value null: a filter `score IS NOT NULL` let such photos through (the drift report had to
filter again in Python). The models now declare `JSON(none_as_null=True)`, as
`rescore_scores.score` always did; this revision turns the rows written before into SQL NULL.
Both read back as None, so nothing that reads them changes, and the downgrade leaves them
(the older code reads SQL NULL as None too).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ("score", "quality")


def upgrade() -> None:
    for column in COLUMNS:
        # CAST works on both databases: SQLite keeps JSON as text, PostgreSQL's json casts to
        # its text form ('null' for the JSON null).
        op.execute(
            f"UPDATE photos SET {column} = NULL "
            f"WHERE {column} IS NOT NULL AND CAST({column} AS TEXT) = 'null'"
        )


def downgrade() -> None:
    """Nothing to undo: SQL NULL means what the JSON null meant."""
