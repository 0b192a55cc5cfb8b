"""The audit chain's links: each entry's hash, the head's MAC, and the walk over the log that
checks every link (serving.audit appends with them and says what `verify` detects)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from serving.audit_read import Link, StoredHead, entries_query, read_entry
from serving.db.models import AuditEntry

GENESIS = "0" * 64
# The entry an append writes before its own when the head's MAC does not hold (serving.audit):
# what the head was, for `verify` to report as long as the log is kept.
HEAD_MISMATCH = "audit_head_mismatch"
# The same for a head past genesis that carries no MAC (its MAC removed, or never sealed).
HEAD_UNSEALED = "audit_head_unsealed"


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


def head_mac(key: bytes, *, seq: int, hash: str) -> str:
    """The head row's MAC. Its message starts with a label, and a link's with a hex hash, so
    a MAC can never be taken for a link hash or the other way round."""
    message = f"audit-head\n{seq}\n{hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def link_holds(key: bytes, entry: Link, details: Any) -> bool:
    """The entry's hash is the one its own fields, `details` and previous hash give."""
    recomputed = link_hash(
        key,
        prev_hash=entry.prev_hash,
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        details=details,
    )
    # As bytes: compare_digest refuses str with non-ASCII characters, which a hash edited
    # behind the service may hold.
    return hmac.compare_digest(recomputed.encode(), entry.hash.encode())


def mac_holds(head: StoredHead | None, key: bytes) -> bool:
    if head is None or head.mac is None:
        return False
    expected = head_mac(key, seq=head.seq, hash=head.hash)
    return hmac.compare_digest(head.mac.encode(), expected.encode())  # bytes: see link_holds


@dataclass
class Walk:
    entries: int = 0
    last_seq: int = 0
    hash_at_head: str | None = GENESIS  # the entry's at the head's seq; None: unreadable
    problems: list[str] = field(default_factory=list)
    held: int = 0  # entries whose link holds under the key
    changed: set[str] = field(default_factory=set)  # the problems of those whose link does not


def walk(session: Session, key: bytes, *, batch: int, head_seq: int | None) -> Walk:
    """Every entry in seq order: gaps, entries that do not follow the one before, columns
    that cannot be read, and links that do not hold under `key`."""
    walked = Walk()
    prev_hash: str | None = GENESIS
    expected_seq = 1
    # Each column as stored, decoded per entry (`read_entry`): one that cannot be read is
    # reported and the walk goes on. The first batch has no lower bound, so entries put below
    # seq 1 are walked too. LIMIT, not fetchmany: a client-side cursor (psycopg) receives the
    # whole rest of the log.
    first = entries_query(session).order_by(AuditEntry.seq).limit(batch)
    rows = session.execute(first).all()
    while rows:
        for row in rows:
            walked.entries += 1
            entry = read_entry(row)
            if entry.seq < 1:
                walked.problems.append(
                    f"entry {entry.seq}: inserted before the chain's first entry (seqs start at 1)"
                )
                continue
            if entry.seq != expected_seq:
                walked.problems.append(
                    f"entries {expected_seq}..{entry.seq - 1} are missing (deleted)"
                )
            if entry.prev_hash is not None and entry.prev_hash != prev_hash:
                walked.problems.append(f"entry {entry.seq}: does not follow the entry before it")
            walked.problems += [f"entry {entry.seq}: {why}" for why in entry.unreadable]
            if entry.link is not None and link_holds(key, entry.link, entry.details):
                walked.held += 1
            elif entry.link is not None:  # said per entry unless it is another key (`verify`)
                changed = f"entry {entry.seq}: content was changed after it was written"
                walked.problems.append(changed)
                walked.changed.add(changed)
            if entry.link is not None and entry.link.action == HEAD_MISMATCH:
                walked.problems.append(_mismatch_problem(entry.seq, entry.details))
            elif entry.link is not None and entry.link.action == HEAD_UNSEALED:
                walked.problems.append(_unsealed_problem(entry.seq, entry.details))
            if entry.seq == head_seq:
                walked.hash_at_head = entry.hash
            prev_hash, expected_seq, walked.last_seq = entry.hash, entry.seq + 1, entry.seq
        after = rows[-1].seq
        rows = session.execute(first.where(AuditEntry.seq > after)).all()
    return walked


def _mismatch_problem(seq: int, details: Any) -> str:
    found = details.get("head_seq") if isinstance(details, dict) else None
    head = f"entry {found}" if isinstance(found, int) else "an entry this one does not say"
    return (
        f"entry {seq}: the append that wrote it found the head (at {head}) with a MAC that did "
        "not match it: the head had been changed or made up without the key (entries after it "
        "may have been cut, or the head moved), or the log before it was written with another "
        "key. The log went on from that head; this entry's details keep what it was"
    )


def _unsealed_problem(seq: int, details: Any) -> str:
    found = details.get("head_seq") if isinstance(details, dict) else None
    head = f"entry {found}" if isinstance(found, int) else f"an entry entry {seq} does not name"
    return (
        f"the head ({head}) carried no MAC when entry {seq} was appended: it was written "
        "before migration 0003 and not sealed since, or its MAC was removed (entries after it "
        f"may have been cut). The log went on from that head; entry {seq}'s details keep what "
        "it was"
    )
