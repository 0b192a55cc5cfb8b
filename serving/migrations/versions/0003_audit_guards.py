"""Audit guards: triggers that keep audit_log append-only, and a MAC column on audit_head.

The triggers refuse UPDATE and DELETE on `audit_log` (and TRUNCATE on PostgreSQL, where row
triggers do not see it), so a mistaken or casual edit fails loudly. They are a guard, not a
wall: whoever may drop triggers can remove them, which is why `serving.audit.verify` still
checks the chain, the head's MAC and the anchor file.

`audit_head.mac` is the audit key's HMAC over the head's (seq, hash). A migration has no key,
so an existing head keeps a NULL MAC until the next append seals it (verify reports an
unsealed head past genesis as a problem; see serving/audit.py).

SQLite keeps triggers with their table: a later migration that recreates `audit_log` (batch
mode copies a table to change it) must create them again.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REFUSED = "audit_log is append-only: its entries cannot be changed or deleted"

SQLITE_UP = [
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_no_update",
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
]
POSTGRESQL_UP = [
    f"""CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSED} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END
    $$""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()""",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_refuse_change()",
]
GUARDS = {"sqlite": (SQLITE_UP, SQLITE_DOWN), "postgresql": (POSTGRESQL_UP, POSTGRESQL_DOWN)}


def _guards() -> tuple[list[str], list[str]]:
    dialect = op.get_bind().dialect.name
    if dialect not in GUARDS:
        raise NotImplementedError(f"no append-only guard for {dialect}; the service runs on "
                                  "SQLite or PostgreSQL")  # fmt: skip
    return GUARDS[dialect]


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    for statement in _guards()[0]:
        op.execute(statement)


def downgrade() -> None:
    for statement in _guards()[1]:
        op.execute(statement)
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("mac")
