"""The audit trail: an append-only, hash-chained log of who did what, verified end to end
(`verify`, in serving.audit_verify; reached here as `audit.verify`).

What is kept, and where:
- Each entry's hash is an HMAC (keyed with the service's signing key) over the previous hash
  and the entry's canonical JSON.
- `audit_head` holds the chain's last link (seq, hash) and a MAC over both with the same key.
- Database triggers (migration 0003) refuse UPDATE and DELETE on `audit_log`.
- After each committed append, the head (seq, hash) is also appended to the anchor file
  (setting `audit_anchor_file`, serving.audit_anchor), outside the database.

What `verify` detects:
- An edited entry, one deleted from the middle, re-ordered entries, one put before the
  first (seq below 1), and a chain rebuilt without the key.
- Entries deleted from the end while the head is left alone.
- A head that was changed or made up without the key (its MAC does not match), also after
  later appends: an append that finds such a head records it first, in an
  `audit_head_mismatch` entry that keeps what the head was, then seals the new head.
- A head whose MAC was removed (one past genesis with no MAC), also after later appends: an
  append that finds one records it first, in an `audit_head_unsealed` entry. Every command
  that migrates seals a head from before migration 0003 before it appends (`seal_head`), so
  only a removed MAC, or a head `seal_head` left unsealed (itself reported), gets there.
- A head behind the log's last entry: an old head row put back (its MAC still matches), or
  the genesis head, with the entries after it kept. The next append would collide with them.
- Entries cut from the end, with the head rolled back to the new last entry: when the anchor
  saw a later seq. So it catches an old head row saved earlier and put back, and a new head
  MACed by someone who holds the key.
- A chain rewritten from some seq on, with the key, or the database restored from an older
  copy that later appends went on from: the anchor's hash at that seq differs.
- Another key than the one that wrote the log (or a log all rewritten): said once, not per entry.

What it cannot detect:
- Someone with the key, database access and write access to the anchor file can rewrite
  the log and the anchor together. Truncating the anchor as well as the log, and putting back
  a saved head row, also needs no key. The anchor is only as good as where it is kept:
  make it append-only (chattr +a) or ship its lines to another host.
- Entries cut from the end after the last anchored seq, for example appends whose anchor
  line was never written (a crash between the commit and the write, or a process whose
  sessions have no anchor: every command's and the service's have one).
- A whole log wiped back to genesis when no anchor exists: the genesis head needs no MAC.
- A head written before migration 0003 has no MAC, and a migration has no key. The first
  command that migrates the database with the key at hand (`serve`, `users`, `rescore`,
  `assessments refresh`: serving/cli.py) seals it (`seal_head`) before it appends; an append
  that finds it unsealed records it (above). Until then `verify` reports it, because it
  cannot be told apart from a head made without the key; and entries cut from the end
  before then, with the head rolled back, are not detected (unless the anchor saw them).
- Triggers stop mistakes and casual edits only: anyone allowed to drop a trigger can
  remove them.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.audit_anchor import ANCHOR_INFO_KEY, CONFIG_INFO_KEY, PENDING_INFO_KEY
from serving.audit_chain import (
    GENESIS,
    HEAD_MISMATCH,
    HEAD_UNSEALED,
    head_mac,
    link_hash,
    link_holds,
    mac_holds,
)
from serving.audit_read import StoredHead, entries_query, read_entry, read_head
from serving.audit_verify import VerifyResult, verify
from serving.db.models import AuditEntry, AuditHead
from shanyraq.shell_words import config_option

# What callers use as `audit.<name>`: `verify` and its result live in serving.audit_verify, the
# links in serving.audit_chain; they are reached here, where callers and tests look them up.
__all__ = [
    "GENESIS",
    "VerifyResult",
    "append",
    "head_mac",
    "link_hash",
    "printable",
    "seal_head",
    "verify",
]

logger = logging.getLogger(__name__)


def append(
    session: Session,
    key: bytes,
    *,
    actor: str | None,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction; it commits (or not) with what it records.

    `details` must be JSON both databases keep alike: NaN and infinities are refused
    (ValueError; PostgreSQL rejects them), and so is a dict whose keys cannot be sorted
    (TypeError); each error names where in `details` it is.

    A head whose MAC does not hold under `key`, or a head past genesis with no MAC, is not
    sealed over unseen: an `audit_head_mismatch` or `audit_head_unsealed` entry keeping what
    it was goes first, and `verify` reports it.
    """
    # Round-trip through JSON so the hashed form is exactly what the database returns.
    clean = json.loads(_storable(details or {}))
    # Locking the head row serialises appends (PostgreSQL); SQLite holds the write lock already.
    # populate_existing: a head object the session still holds (expire_on_commit is off) is
    # overwritten with the row as locked, not kept with what an earlier read saw.
    head = session.execute(
        select(AuditHead)
        .where(AuditHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    # Sealing over either would hide it from `verify`: the chain records it first, sealed.
    # Every migrating command seals a head from before migration 0003 before it appends.
    if head.mac is None and (head.seq, head.hash) != (0, GENESIS):
        _record_head(session, key, head, HEAD_UNSEALED, _UNSEALED)
    elif head.mac is not None and not mac_holds(StoredHead(head.seq, head.hash, head.mac), key):
        _record_head(session, key, head, HEAD_MISMATCH, _MISMATCH)
    entry = _link(session, key, head, actor=actor, action=action, target=target, details=clean)
    session.flush()
    if session.info.get(ANCHOR_INFO_KEY) is not None:
        session.info[PENDING_INFO_KEY] = (entry.seq, entry.hash)
    return entry


_UNSEALED = (
    "carries no MAC: its MAC was removed (entries after it may have been cut), or it was "
    "written before migration 0003 and not sealed since"
)
_MISMATCH = (
    "has a MAC that does not match it: the head was changed or made up without the key, or "
    "the log was written with another key"
)


def printable(text: str, limit: int) -> str:
    """`text` for an audit entry's details: each unprintable character written as its escape (a
    NUL as \\x00), cut to `limit` characters, so a value a request sent (an attempted name, a
    path) can neither break the write nor hide in the log."""
    return _escaped(text)[:limit]


def _escaped(text: str) -> str:
    """`text` with each unprintable character written as its escape (a NUL as \\x00)."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _record_head(session: Session, key: bytes, head: AuditHead, action: str, why: str) -> None:
    """Log and record, in an `action` entry after `head` (locked), what the head was; the
    `audit verify` logged carries the session's --config (serving.audit_anchor)."""
    verify = f"shanyraq audit verify{config_option(session.info.get(CONFIG_INFO_KEY))}"
    logger.error(
        "the audit head (entry %d) %s; recorded in the audit log before this entry: run `%s`",
        head.seq,
        why,
        verify,
    )
    mac = head.mac[:128] if head.mac is not None else None
    found = {"head_seq": head.seq, "head_hash": head.hash[:128], "head_mac": mac}
    found = json.loads(_storable(found))  # as the database returns it, as `clean`
    _link(session, key, head, actor=None, action=action, target=None, details=found)


def _link(
    session: Session,
    key: bytes,
    head: AuditHead,
    *,
    actor: str | None,
    action: str,
    target: str | None,
    details: dict[str, Any],
) -> AuditEntry:
    """Add the entry after `head` (locked) and move the head to it, sealed."""
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
        details=details,
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    head.mac = head_mac(key, seq=seq, hash=digest)
    return entry


def _storable(details: dict[str, Any]) -> bytes:
    """`details` in the canonical form, refused with where and why if JSON cannot keep it."""
    try:
        return json.dumps(
            details, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False
        ).encode()
    except (ValueError, TypeError):
        found = _unstorable(details, "details")
        if found is None:
            raise
        error, why = found
        raise error(f"audit {why}") from None


def _unstorable(value: Any, at: str) -> tuple[type[Exception], str] | None:
    """The first place in `value` that the canonical JSON cannot hold, and why."""
    if isinstance(value, float) and not math.isfinite(value):
        return ValueError, (
            f"{at} is {value!r}: JSON has no NaN or infinity (PostgreSQL refuses them); "
            "record it as text or None"
        )
    if isinstance(value, dict):
        try:
            sorted(value)
        except TypeError:
            kinds = ", ".join(sorted({type(k).__name__ for k in value}))
            return TypeError, (
                f"{at} has keys of types that cannot be sorted ({kinds}): JSON keys are "
                "text, sorted to be hashed; give them all as text"
            )
        inner = [(f"{at}[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        inner = [(f"{at}[{i}]", v) for i, v in enumerate(value)]
    else:
        return None
    for where, item in inner:
        found = _unstorable(item, where)
        if found is not None:
            return found
    return None


def seal_head(session: Session, key: bytes, config: Path | None = None) -> bool:
    """MAC a head that carries none (migration 0003 added the MAC without a key), in the
    caller's transaction; True when it sealed one.

    Only a head that is the log's last entry, whose link holds under `key`, is sealed: a head
    past the log's end, or one the key does not match, is left for `verify` to report (the
    `audit verify` it logs carries `config`, the sealing command's --config; None: none given,
    or not known where it seals).
    """
    verify = f"shanyraq audit verify{config_option(config)}"
    # Locked by its id alone, then read as stored (serving.audit_read): on SQLite a column
    # its driver cannot decode failed the ORM's read, and this runs on every migrating command.
    session.execute(select(AuditHead.id).where(AuditHead.id == 1).with_for_update())
    head, unreadable = read_head(session)
    if unreadable:
        logger.warning(
            "the audit head cannot be read: %s; left unsealed: run `%s`",
            "; ".join(unreadable),
            verify,
        )
        return False
    if head is None or head.mac is not None or (head.seq, head.hash) == (0, GENESIS):
        return False
    row = session.execute(
        entries_query(session).order_by(AuditEntry.seq.desc()).limit(1)
    ).one_or_none()
    last = read_entry(row) if row is not None else None
    if (
        last is None
        or last.link is None  # a column cannot be read: `verify` says which
        or (last.seq, last.hash) != (head.seq, head.hash)
        or not link_holds(key, last.link, last.details)
    ):
        logger.warning(
            "the audit head (entry %d) carries no MAC and is not the log's last entry under "
            "this key; left unsealed: run `%s`",
            head.seq,
            verify,
        )
        return False
    stored = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    stored.mac = head_mac(key, seq=head.seq, hash=head.hash)
    logger.info("sealed the audit head (entry %d), which carried no MAC", head.seq)
    return True
