"""A stored photo the reuse index cannot read warns once while it stays unreadable.

Every view of an old assessment checks its reuse again (serving.assessment_repeats), so a
warning per check wrote one line per page view for a single damaged file. The fallback stays
uncached: a restored file is verified on its pixels again, and a file damaged after that
warns again.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import pytest

from serving.reuse_index import ReuseIndex
from serving.storage import PhotoStore
from serving.stored_decode import decode_stored
from shanyraq.config import get_settings
from tests.serving.helpers import REGION, jpeg
from vision.engine import get_engine_config
from vision.hashing import HashingConfig, reuse_hashes

CONFIG = get_engine_config().hashing
# As on a busy service whose caches have since forgotten the photo: every check reads it.
FORGETFUL = CONFIG.model_copy(update={"verdict_cache": 0, "feature_cache": 0})
UNREADABLE = "stored pixels unreadable"


def _pixels(data: bytes, sha256: str):  # type: ignore[no-untyped-def]
    side = CONFIG.verification.working_side_px
    max_pixels = get_settings().io.max_pixels
    return decode_stored(sha256, data, max_pixels=max_pixels, target_size=side).pixels


class Filed:
    """F1's photos in a real store, indexed as the service indexes them (serving.app)."""

    def __init__(self, tmp_path, config: HashingConfig) -> None:  # type: ignore[no-untyped-def]
        self.store = PhotoStore(tmp_path / "photos")
        self.store.prepare()
        self.index = ReuseIndex(
            config=config, load_pixels=lambda sha: _pixels(self.store.read(sha), sha)
        )
        self.originals: dict[str, bytes] = {}
        self.seeds: dict[str, int] = {}

    def file(self, photo_id: int, seed: int) -> str:
        """F1 files photo `seed` as `photo_id`: its sha256."""
        data = jpeg(seed, size=(800, 600))
        sha256 = self.store.put(data).sha256
        self.originals[sha256], self.seeds[sha256] = data, seed
        hex_hash = reuse_hashes(_pixels(data, sha256), CONFIG.crop_fractions).to_hex()
        self.index.add(photo_id, hex_hash, family_id="F1", region=REGION, sha256=sha256)
        return sha256

    def check_copy_of(self, sha256: str) -> list[int | None]:
        """F2 uploads a re-encoded copy of F1's photo: the photos verified as the same."""
        copy = jpeg(self.seeds[sha256], size=(800, 600), subsampling=0)
        copy_sha = hashlib.sha256(copy).hexdigest()
        pixels = _pixels(copy, copy_sha)  # checked on its own pixels, as an upload is
        hex_hash = reuse_hashes(pixels, CONFIG.crop_fractions).to_hex()
        found = self.index.verified(hex_hash, family_id="F2", sha256=copy_sha, pixels=pixels)
        return [match.photo_id for match in found]

    def lose(self, sha256: str) -> None:
        self.store.path_for(sha256).unlink()

    def damage(self, sha256: str) -> None:
        self.lose(sha256)
        self.store.path_for(sha256).write_bytes(self.originals[sha256][:300])  # cut short


def _filed(tmp_path, config: HashingConfig = CONFIG) -> tuple[Filed, str]:  # type: ignore[no-untyped-def]
    filed = Filed(tmp_path, config)
    return filed, filed.file(1, seed=31)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if UNREADABLE in r.getMessage()]


def test_two_checks_on_one_missing_file_warn_once(tmp_path, caplog):
    filed, sha256 = _filed(tmp_path)
    filed.lose(sha256)  # gone from the store
    with caplog.at_level(logging.WARNING, logger="serving.reuse_index"):
        filed.check_copy_of(sha256)
        filed.check_copy_of(sha256)  # before: a second warning for the same file
    assert _warnings(caplog) == [f"photo {sha256}: {UNREADABLE}, reuse not verified"]


def test_each_unreadable_file_warns_once(tmp_path, caplog):
    filed, first = _filed(tmp_path)
    second = filed.file(2, seed=47)
    filed.lose(first)
    filed.damage(second)
    with caplog.at_level(logging.WARNING, logger="serving.reuse_index"):
        for _ in range(2):
            filed.check_copy_of(first)
            filed.check_copy_of(second)
    assert sorted(_warnings(caplog)) == sorted(
        f"photo {sha}: {UNREADABLE}, reuse not verified" for sha in (first, second)
    )


def test_a_restored_file_is_verified_again_and_warns_again_when_damaged_again(tmp_path, caplog):
    filed, sha256 = _filed(tmp_path, FORGETFUL)
    filed.lose(sha256)
    with caplog.at_level(logging.WARNING, logger="serving.reuse_index"):
        filed.check_copy_of(sha256)
        filed.check_copy_of(sha256)
        assert len(_warnings(caplog)) == 1
        filed.store.put(filed.originals[sha256])  # restored from a backup
        assert filed.check_copy_of(sha256) == [1]  # verified on its pixels again
        assert len(_warnings(caplog)) == 1
        filed.damage(sha256)
        filed.check_copy_of(sha256)
        filed.check_copy_of(sha256)
    assert len(_warnings(caplog)) == 2  # the new damage is news; its repeats are not


def test_checks_from_several_threads_warn_once(tmp_path, caplog):
    filed, sha256 = _filed(tmp_path)
    filed.lose(sha256)
    threads = 8
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def check() -> None:
        try:
            start.wait()
            filed.check_copy_of(sha256)
        except BaseException as exc:  # a thread's failure is asserted below
            errors.append(exc)

    with caplog.at_level(logging.WARNING, logger="serving.reuse_index"):
        workers = [threading.Thread(target=check) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert errors == []
    assert len(_warnings(caplog)) == 1
