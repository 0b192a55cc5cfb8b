"""The audit trail: an append-only, hash-chained log of who did what, verified end to end.

Each entry's hash is an HMAC (keyed with the service's signing key) over the previous hash and
the entry's canonical JSON, so editing, deleting or re-ordering any entry breaks the chain,
and someone with database access but not the key cannot forge a consistent chain. The chain's
last link is also kept in `audit_head`, so deleting entries from the end is detected too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str).encode()


def link_hash(
    key: bytes,
    *,
    prev_hash: str,
    seq: int,
    at: str,
    actor: str | None,
    action: str,
    target: str | None,
    details: dict[str, Any],
) -> str:
    body = {"seq": seq, "at": at, "actor": actor, "action": action, "target": target}
    body["details"] = details
    message = prev_hash.encode() + b"\n" + _canonical(body)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def append(
    session: Session,
    key: bytes,
    *,
    actor: str | None,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction; it commits (or not) with what it records."""
    # Locking the head row serialises appends (PostgreSQL); SQLite holds the write lock already.
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    # Round-trip through JSON so the hashed form is exactly what the database returns.
    clean = json.loads(_canonical(details or {}))
    seq = head.seq + 1
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    digest = link_hash(
        key,
        prev_hash=head.hash,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=clean,
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=clean,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problems: list[str]


def verify(session: Session, key: bytes, *, batch: int = 1000) -> VerifyResult:
    """Walk the whole chain; report every broken link, gap and a mismatched head."""
    problems: list[str] = []
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry).where(AuditEntry.seq > last_seq).order_by(AuditEntry.seq)
            )
            .scalars()
            .fetchmany(batch)
        )
        if not rows:
            break
        for entry in rows:
            count += 1
            if entry.seq != expected_seq:
                problems.append(f"entries {expected_seq}..{entry.seq - 1} are missing (deleted)")
            if entry.prev_hash != prev_hash:
                problems.append(f"entry {entry.seq}: does not follow the entry before it")
            recomputed = link_hash(
                key,
                prev_hash=entry.prev_hash,
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                target=entry.target,
                details=entry.details,
            )
            if not hmac.compare_digest(recomputed, entry.hash):
                problems.append(f"entry {entry.seq}: content was changed after it was written")
            prev_hash, expected_seq, last_seq = entry.hash, entry.seq + 1, entry.seq
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the audit head row is missing")
    elif head.seq != last_seq or head.hash != prev_hash:
        problems.append(
            f"the log ends at entry {last_seq} but the head records entry {head.seq}: "
            "entries at the end were deleted or the head was changed"
        )
    return VerifyResult(ok=not problems, entries=count, problems=problems)
