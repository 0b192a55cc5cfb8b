"""Re-scoring run ids are never given twice on SQLite (AUTOINCREMENT on rescore_runs).

`shanyraq rescore discard` deletes a run's row; SQLite gives a plain INTEGER PRIMARY KEY the
largest id in the table plus one, so the next run took the discarded run's id, and the audit
log named two different runs by one `run_id` (rescore_discarded, then the new run's entries).
PostgreSQL's sequence never gives an id twice. This revision rebuilds rescore_runs on SQLite
with AUTOINCREMENT (rows and ids kept; sqlite_sequence starts at the largest id kept: an id
discarded before the upgrade, above every id kept, can still be given once more). Nothing
changes on PostgreSQL. The downgrade rebuilds the table without it.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "rescore_runs", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
