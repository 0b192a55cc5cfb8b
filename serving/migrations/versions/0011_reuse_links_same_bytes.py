"""Reuse links for photos whose very bytes another family filed before the upload linked them.

An upload now links the new photo to every other family's photo of exactly its bytes (same
sha256), whatever the reuse index proposes (serving.uploads.record_upload); before, a flat
featureless frame filed again for another family got no link (its hash proposes no
candidates), so neither family's assessment counted it reused. This revision writes the links
such an upload would have written: for each photo P and each other family's photo Q of the
same sha256 filed before it (smaller id), a link of P naming Q's family and sha256, distance
0, unless P has that link already. An assessment of either family that did not count the
photo reused is then stale (serving.assessments, reason `reuse`) and is recomputed with it.

One INSERT ... SELECT, the same on SQLite and PostgreSQL: the database joins photos on their
sha256 index and looks the links up on uq_reuse_links_pair; no row passes through Python, and
as the whole migration is one transaction, batches would bound nothing. A link's created_at
is the time of the upgrade, when it was made.

The downgrade deletes nothing: the links added state a fact (two families filed the same
bytes), revision 0010 has the same table and reads them as it reads the links uploads write,
and once uploads have written links of their own the two cannot be told apart.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Not __name__: Alembic loads this file as a module of its own name ("0011_..._py"), outside
# the service's loggers.
logger = logging.getLogger("serving.migrations")

_photos = sa.table(
    "photos",
    sa.column("id", sa.Integer()),
    sa.column("family_id", sa.String(64)),
    sa.column("sha256", sa.String(64)),
)
_links = sa.table(
    "reuse_links",
    sa.column("photo_id", sa.Integer()),
    sa.column("other_family_id", sa.String(64)),
    sa.column("other_sha256", sa.String(64)),
    sa.column("distance", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def missing_links(now: datetime) -> sa.Insert:
    """INSERT of the links missing between each photo and the earlier photos of its bytes."""
    later, earlier, link = _photos.alias("later"), _photos.alias("earlier"), _links.alias("link")
    linked = (
        sa.select(sa.literal(1))
        .select_from(link)
        .where(
            link.c.photo_id == later.c.id,
            link.c.other_family_id == earlier.c.family_id,
            link.c.other_sha256 == earlier.c.sha256,
        )
    )
    pairs = (
        sa.select(
            later.c.id,
            earlier.c.family_id,
            earlier.c.sha256,
            sa.literal(0, sa.Integer()),
            sa.literal(now, sa.DateTime(timezone=True)),
        )
        .select_from(
            later.join(
                earlier,
                sa.and_(
                    earlier.c.sha256 == later.c.sha256,
                    earlier.c.family_id != later.c.family_id,
                    earlier.c.id < later.c.id,
                ),
            )
        )
        .where(~linked.exists())
        .order_by(later.c.id, earlier.c.id)
    )
    columns = ["photo_id", "other_family_id", "other_sha256", "distance", "created_at"]
    return _links.insert().from_select(columns, pairs)


def upgrade() -> None:
    added = op.get_bind().execute(missing_links(datetime.now(UTC))).rowcount
    logger.info("reuse links added for photos of bytes another family filed before: %s", added)


def downgrade() -> None:
    """Nothing to undo: the links added are true, and revision 0010 reads them (see above)."""
