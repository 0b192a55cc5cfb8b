"""Idempotency-Keys: an upload's first answer, given back to its retries for a bounded time.

A phone that lost an upload's answer sends it again with the same Idempotency-Key; the first
answer (status, body) is stored under (user, key) in the transaction that filed the photo
(serving.uploads), and a retry gets it back, or 422 when the key comes with another request
(other family, room hint or bytes).

A key is kept `idempotency_key_retention_hours` (configs/serving.yaml). An older one is unused:
some phones reuse keys after a reinstall, and a key months old must neither replay an old
answer nor refuse the new photo. A request with it is a new request, and its answer replaces
the row. A very late retry of the same photo is still not filed twice: the family has those
bytes, so it is answered 200 with `duplicate: true`, and audited as `photo_upload_duplicate`.

Expired rows are deleted on the write path: each keyed answer stored deletes up to
`PRUNE_BATCH` of the oldest, in the same transaction (as revoked tokens are dropped at the next
sign-out), so the table holds about one retention period of keys with no command to schedule,
and a backlog (a database upgraded from a version that kept keys for ever) drains over the
following uploads instead of stalling one. A deployment no keyed upload reaches any more keeps
its last period's rows until one does. Not audited: a row is the stored copy of an answer
whose upload the audit trail records already; an entry per deleted row would grow the
append-only log at the rate of uploads, the growth this removal exists to stop.

Concurrent requests with one key are ordered by the database (serving.uploads._answer retries
a lost race): an expired row is deleted only while it is still expired (a fresh row written by
a concurrent request is never deleted), and then the first insert of the key to commit wins;
the others fail on its primary key, retry, and find it. On PostgreSQL the oldest rows are taken
with SKIP LOCKED, so concurrent uploads never wait on each other's pruning.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from serving.db.models import IdempotencyKey, utcnow
from serving.errors import IdempotencyMismatchError
from shanyraq.json_values import finite_or_none

if TYPE_CHECKING:
    from serving.core.config import ServingSettings

# Expired rows one stored answer deletes at most: far more than the one row it writes, so a
# backlog drains, and few enough that no upload pays for months of them at once.
PRUNE_BATCH = 100

Answer = tuple[int, dict[str, Any]]  # status, body


def retention(settings: ServingSettings) -> timedelta:
    """How long a key's answer is kept and replayed."""
    return timedelta(hours=settings.idempotency_key_retention_hours)


def request_fingerprint(*, family_id: str, room_hint: str | None, sha256: str) -> str:
    """What an Idempotency-Key's request was: the family, the room hint and the bytes' sha256."""
    return hashlib.sha256(f"{family_id}\n{room_hint or ''}\n{sha256}".encode()).hexdigest()


def replay(
    session: Session, *, user_id: int, key: str, fingerprint: str, kept_for: timedelta
) -> Answer | None:
    """The stored answer (status, body) to an earlier request with this key, or None if there
    was none within `kept_for` (an older one is unused: the request is a new one). A number
    stored as NaN or infinity (a score stored on SQLite before PhotoScore.to_dict wrote null)
    comes back as None: JSON responses refuse NaN. Writes nothing."""
    row = session.get(IdempotencyKey, (user_id, key))
    if row is None or row.created_at < utcnow() - kept_for:
        return None
    if row.request_sha256 != fingerprint:
        raise IdempotencyMismatchError(
            "this Idempotency-Key was used for a different request; use a new key per photo"
        )
    return row.status_code, finite_or_none(row.response)


def remember(
    session: Session,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    answer: Answer,
    kept_for: timedelta,
) -> None:
    """Store `answer` under the key, replacing its row if that one is expired, and delete up
    to PRUNE_BATCH other expired rows. A row of the key still within `kept_for` (a concurrent
    request's, committed since `replay` found none) is kept: the insert then fails on the
    primary key (IntegrityError at the flush), and the caller's retry replays that row."""
    cutoff = utcnow() - kept_for
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < cutoff,
        )
    )  # also drops the expired row `replay` loaded into the session
    session.add(
        IdempotencyKey(
            user_id=user_id, key=key, request_sha256=fingerprint, status_code=answer[0],
            response=answer[1],
        )
    )  # fmt: skip
    prune_expired(session, cutoff=cutoff)


def prune_expired(session: Session, *, cutoff: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` of the oldest rows stored before `cutoff`; how many it took. Rows
    another transaction holds (PostgreSQL: it is deleting them too) are left to it."""
    expired = session.execute(
        select(IdempotencyKey.user_id, IdempotencyKey.key)
        .where(IdempotencyKey.created_at < cutoff)
        .order_by(IdempotencyKey.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not expired:
        return 0
    session.execute(
        delete(IdempotencyKey)
        .where(
            tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_([tuple(r) for r in expired]),
            IdempotencyKey.created_at < cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    return len(expired)
