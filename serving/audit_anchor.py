"""The audit anchor: each committed head of the audit chain appended to a file outside the
database, and `verify`'s check of the log against that file (serving.audit says what it
detects and what it cannot).

Sessions of a factory passed to `anchor_sessions` carry the file's path in `Session.info`;
`serving.audit.append` leaves the new head there, and it is written once the transaction
commits. One line per head: "<seq> <hash>". They also carry the --config of the command or
service whose sessions they are, which the `shanyraq audit verify` an append tells carries.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from serving.audit_read import read_hashes
from serving.data_dir import make_private_dir

logger = logging.getLogger(__name__)

# Session.info keys: the anchor file of the session's database, the head to anchor once
# the session's transaction commits, and the --config of the command appending (None: none).
ANCHOR_INFO_KEY = "audit_anchor_file"
PENDING_INFO_KEY = "audit_anchor_pending"
CONFIG_INFO_KEY = "audit_told_config"
_ANCHOR_LINE = re.compile(rb"([1-9][0-9]*) ([0-9a-f]{64})\n")
_HEX = re.compile(r"[0-9a-f]+")
_SHOWN_MISMATCHES = 3
# The factories whose sessions anchor their heads (`anchor_sessions`), held weakly.
_LISTENING: weakref.WeakSet[sessionmaker[Session]] = weakref.WeakSet()


def anchor_sessions(factory: sessionmaker[Session], path: Path, config: Path | None = None) -> None:
    """Make the factory's sessions write each committed head to `path` and verify against it.
    `config`: the --config of the command or service whose sessions they are (None: none
    given), which the `audit verify` an append tells carries, so that it checks this log."""
    make_private_dir(path.parent)
    _warn_if_exposed(path)
    info = dict(factory.kw.get("info") or {})
    info[ANCHOR_INFO_KEY] = path
    info[CONFIG_INFO_KEY] = config
    factory.configure(info=info)
    # Not `event.contains(factory, ...)`: it answers for the object's id, and a factory made
    # where a dropped one lived (a CLI process, tests) was taken for it and left unanchored.
    if factory not in _LISTENING:
        event.listen(factory, "after_commit", _anchor_committed_head)
        event.listen(factory, "after_soft_rollback", _forget_pending_head)
        event.listen(factory, "after_transaction_end", _forget_uncommitted_head)
        _LISTENING.add(factory)


def _warn_if_exposed(path: Path) -> None:
    """Log a warning when the anchor cannot serve as evidence: not a regular file (a link to
    /dev/null keeps nothing), or a file or folder that other users may write to (they could
    rewrite it with the log). Like the data folder (serving.data_dir), it is left as it is."""
    try:
        mode = path.stat().st_mode  # through a link: where the lines land
        folder = path.resolve().parent.stat().st_mode
    except OSError:
        return  # missing: created private on the first append
    why = (
        "is not a regular file, so the heads written to it are not kept"
        if not stat.S_ISREG(mode)
        else "may be written by other users"
        if stat.S_IMODE(mode) & 0o022
        else "is in a folder other users may write to"
        if stat.S_IMODE(folder) & 0o022 and not folder & stat.S_ISVTX
        else None
    )
    if why is not None:
        logger.warning(
            "audit anchor %s %s: it cannot show that the audit log was cut or rewritten; "
            "make it a 0600 file in a 0700 folder (append-only: chattr +a)",
            path, why,
        )  # fmt: skip


def _anchor_committed_head(session: Session) -> None:
    pending = session.info.pop(PENDING_INFO_KEY, None)
    path = session.info.get(ANCHOR_INFO_KEY)
    if pending is None or path is None:
        return
    seq, digest = pending
    # The line is written after the commit, outside the lock that serialises appends.
    # Written before the commit, a rolled-back append would leave an anchored seq the log
    # never had, which verify would report as entries cut from the end. So lines can arrive
    # out of seq order, and each one stands alone: verify checks every line against the
    # entry at its seq. The write is one O_APPEND write() of one short line, which Linux
    # does not interleave with another process's. There is no fsync: a crash can lose the
    # last few lines, which only leaves those entries unanchored. The anchor is evidence
    # of tampering, not a durable copy, and an fsync per append would cost more than the
    # append. A crash can also leave the file ending in half a line: the line is then put
    # on a line of its own, or it would run on from that half and be unreadable. (Another
    # writer's line seen half-written only adds a blank line after it.)
    line = f"{seq} {digest}\n".encode()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            written = os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        logger.exception("could not anchor audit entry %d in %s", seq, path)
        return
    if written != len(line):
        logger.error("audit entry %d: only part of its anchor line went to %s", seq, path)


def _forget_pending_head(session: Session, _previous_transaction: Any) -> None:
    # A savepoint rolled back may have held the pending append. Forgetting the head only
    # leaves those entries unanchored, and anchoring one the log lacks would be a false alarm.
    session.info.pop(PENDING_INFO_KEY, None)


def _forget_uncommitted_head(session: Session, transaction: Any) -> None:
    # A head still pending when the outermost transaction ends was never committed (a commit
    # takes it first): a session closed without commit or rollback kept it, and its next
    # commit, with no append of its own, anchored a seq and hash the log never had.
    if transaction.parent is None:
        session.info.pop(PENDING_INFO_KEY, None)


def _anchor_lines(path: Path, size: int) -> Iterator[tuple[int, int, str]]:
    """(line number, seq, hash) of each well-formed line in the file's first `size` bytes."""
    unreadable = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            size -= len(raw)
            if size < 0:
                break  # written after verify started
            found = _ANCHOR_LINE.fullmatch(raw)
            if found is None:
                # A crash mid-write can leave half a line (the next one starts on a line of
                # its own). Nothing can be read from it, so it is skipped and not reported.
                unreadable += raw != b"\n"  # a blank line: the newline ending half a line
                continue
            yield number, int(found.group(1)), found.group(2).decode()
    if unreadable:
        logger.warning("%s: skipped %d unreadable anchor line(s)", path, unreadable)


def _log_side(exists: bool, now: str | None, why: str | None) -> str:
    if not exists:
        return " has no such entry"
    if now is None:
        return f"'s hash cannot be read ({why})"
    if _HEX.fullmatch(now):
        return f" has {now[:12]}…"
    # Escaped: text edited behind the service may hold control characters for a terminal.
    return f" has {now[:12]!a}" + ("…" if len(now) > 12 else "")


def anchor_problems(
    session: Session, path: Path, *, size: int, last_seq: int, batch: int
) -> list[str]:
    """What the anchor file's first `size` bytes show against the log: entries cut from its
    end (past `last_seq`), and anchored entries whose hash the log no longer has. An anchor
    others may write to is no evidence: a warning is logged (`_warn_if_exposed`)."""
    _warn_if_exposed(path)
    beyond = 0  # the highest anchored seq past the log's end
    differing: list[str] = []  # the first _SHOWN_MISMATCHES, in words
    n_differing = 0  # all of them: a rewritten log of millions of entries keeps no list
    n_checked = 0  # the lines within the log's seqs
    chunk: list[tuple[int, int, str]] = []

    def check(lines: list[tuple[int, int, str]]) -> None:
        nonlocal n_differing, n_checked
        n_checked += len(lines)
        # As stored (serving.audit_read): a hash SQLite's driver cannot decode failed the query.
        logged = read_hashes(session, {seq for _, seq, _ in lines})
        for number, seq, digest in lines:
            now, why = logged.get(seq, (None, None))
            if now == digest:
                continue
            n_differing += 1
            if len(differing) < _SHOWN_MISMATCHES:
                differing.append(
                    f"anchor line {number}: entry {seq} had hash {digest[:12]}…, the log"
                    + _log_side(seq in logged, now, why)
                )

    for number, seq, digest in _anchor_lines(path, size):
        if seq > last_seq:
            beyond = max(beyond, seq)
            continue
        chunk.append((number, seq, digest))
        if len(chunk) >= batch:
            check(chunk)
            chunk = []
    if chunk:
        check(chunk)
    problems = []
    if beyond:
        problems.append(
            f"the log ends at seq {last_seq} but the anchor saw seq {beyond}: entries were "
            "removed from its end"
        )
    if n_differing:
        more = n_differing - _SHOWN_MISMATCHES
        # Not one line matching is also what an anchor file of another database shows.
        why = (
            "none matches: the anchor file may be another database's (each database needs "
            "its own audit_anchor_file), or the log was rewritten or replaced"
            if n_differing == n_checked
            else "it was rewritten from there on, or restored from an older copy"
        )
        problems.append(
            f"{n_differing} anchored entr{'y' if n_differing == 1 else 'ies'} differ "
            f"from the log ({why}): "
            + "; ".join(differing[:_SHOWN_MISMATCHES])
            + (f"; and {more} more" if more > 0 else "")
        )
    return problems


def unchecked_anchor(path: Path | None) -> str | None:
    """Why `serving.audit.verify` will make none of the checks only the anchor file at `path`
    makes ("missing" or "empty"), which its result does not say; None when it will make
    them, or no file is set. Read before verify starts: a file first written while it runs
    is still said to be missing (its lines cover nothing before the check)."""
    if path is None:
        return None
    try:
        size = path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):  # as verify's `exists()` takes them
        return "missing"
    return None if size else "empty"


def anchor_note(why: str | None, *, entries: int) -> str | None:
    """What to tell whoever reads a verify of `entries` entries whose anchor checks did not
    run (`why`: `unchecked_anchor`'s); None when they ran or the log has nothing to check.
    It is no problem: after a restore the README has the anchor moved aside."""
    if why is None or entries == 0:
        return None
    return (
        f"the audit anchor file is {why}, so the log was not checked against it: "
        "entries cut from its end with the head rolled back, or a chain rewritten with the "
        "key, would not show. Right after a database restore this is expected (README, "
        "'Database upgrades and backups': the old anchor is moved aside and kept, as the "
        "record of what the restore lost); a new one starts with the next append and covers "
        "the entries from then on. Otherwise find out what removed it, back it up with the "
        "database and keep it append-only (chattr +a)"
    )
