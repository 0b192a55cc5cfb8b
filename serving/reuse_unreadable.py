"""Stored photo files the reuse index found unreadable, so each is reported once.

Reuse checks repeat at every view of an old assessment (serving.assessment_repeats); a file
gone from the store or damaged there would otherwise be reported at each. A file is news
again once it has been read since: damage after a restore is reported as well.
"""

from __future__ import annotations

import threading


class UnreadableFiles:
    """The stored files (sha256) whose last read failed; thread-safe.

    Bounded by the photos the index holds: only stored files are read through it.
    """

    def __init__(self) -> None:
        self._files: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many stored files are unreadable now, as far as reads have found."""
        with self._lock:
            return len(self._files)

    def failed(self, sha256: str) -> bool:
        """The read of `sha256` failed: True only where it is news (the file was not known
        as unreadable), so exactly one of several threads failing at once reports it."""
        with self._lock:
            news = sha256 not in self._files
            self._files.add(sha256)
            return news

    def read(self, sha256: str) -> None:
        """The read of `sha256` succeeded: a later failure is news again."""
        with self._lock:
            self._files.discard(sha256)
