"""Damage to the photo store, as a re-scoring meets it: an original the store cannot give.

An original missing from the store, unreadable there (a directory in its place, permission
denied, a disk error) or no longer matching its content hash is damage to the store, not to
the photo (`read_original`): its reason, which begins with one of STORE_DAMAGE, is recorded as
the photo's outcome, found again in SQL by that beginning (`store_damaged`), and a command that
leaves such photos unscored names them and the restore from a backup that scores them
(`PhotoStoreDamagedError`). Split from serving/rescore_photos.py, which walks the photos,
discards the damage once a file reads intact again, and imports these from here (its callers
import them from there or from serving/rescore.py).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, or_

from serving.db.models import RescoredScore
from serving.errors import NotFoundError
from serving.storage import PhotoStore
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from serving.rescore import RescoreReport

logger = logging.getLogger(__name__)

MISSING_FILE = "the photo file is missing from the store"
DAMAGED_FILE = "the stored file no longer matches its content hash (damaged in the store)"
# Followed by the system's words in brackets: "(Permission denied)", "(Is a directory)".
UNREADABLE_FILE = "the photo file cannot be read from the store"
STORE_DAMAGE = (MISSING_FILE, DAMAGED_FILE, UNREADABLE_FILE)  # how a recorded reason begins


def store_damaged() -> ColumnElement[bool]:
    """Outcomes recorded as damage to the store (a reason beginning with one of STORE_DAMAGE)."""
    return or_(*(RescoredScore.error.startswith(why, autoescape=True) for why in STORE_DAMAGE))


class PhotoStoreDamagedError(ShanyraqError):
    """Originals a re-scoring needed are missing from the photo store, unreadable or damaged."""

    code = "photo_store_damaged"

    @classmethod
    def of(cls, report: RescoreReport, store_dir: Path) -> PhotoStoreDamagedError:
        shown, n = report.store_damaged_ids, report.store_damaged
        ids = ", ".join(map(str, shown)) + (f" and {n - len(shown)} more" if n > len(shown) else "")
        earlier = n - report.store_damaged_by_run
        found = (
            f"; {earlier} of them recorded by another run under {report.model_version} and "
            f"checked again by this one, {report.store_damaged_by_run} found by this run"
            if earlier
            else ""
        )
        return cls(
            f"the photo store is damaged: {n} original(s) are missing from {store_dir}/originals, "
            "cannot be read there (a folder in the file's place, permissions, a disk error) or "
            f"no longer match their content hash (photos {ids}){found}. They have no score under "
            f"{report.model_version} and keep their current one. Restore those files from a "
            "backup of the photo store (or make them readable again), then run this command "
            "again: it scores the restored photos"
        )


def read_original(store: PhotoStore, sha256: str) -> bytes | str:
    """The original's bytes, checked against its content hash; else why the store cannot
    give them (beginning with one of STORE_DAMAGE)."""
    try:
        data = store.read(sha256)
    except NotFoundError:
        return MISSING_FILE
    except OSError as exc:  # held but unreadable: the run scores the others and names it
        logger.warning("original %s cannot be read from the store: %s", sha256[:12], exc)
        return f"{UNREADABLE_FILE} ({exc.strerror or type(exc).__name__})"
    return data if hashlib.sha256(data).hexdigest() == sha256 else DAMAGED_FILE
