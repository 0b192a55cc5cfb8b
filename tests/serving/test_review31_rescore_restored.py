"""Re-scoring, review 31: a retry refused for a photo restored to the store names the call as
it was made.

A photo recorded as missing from the store and restored since reopens a finished run
(`retry_restored`) before any failure is retried. Under other code that reopening is refused,
and the refusal named the call without its retry option: `shanyraq rescore --retry-failed`'s
left out the photos recorded without a score, which it scores again, and the new run it named
for a promoted run lacked --retry-failed; the Ray pipeline's named `rescore_with_ray(...)`
without retry_failed=True.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory
from serving.rescore_ray import rescore_with_ray
from serving.rescore_runs import RescoreResumeError
from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_command_helpers import retry_run_named_scores_one, run_discard_named
from tests.serving.rescore_helpers import (
    MAX_PIXELS,
    NEW_CODE,
    OLD_CODE,
    VERSION,
    cli_service,
    new_code,
)
from tests.serving.rescore_ray_helpers import finished_ray_run


def _rescore(model: Path, config: Path, *options: str) -> Any:
    return run_cli("rescore", "--model", model, "--config", config, "--device", "cpu",
                "--no-progress", *options)  # fmt: skip


def _lose(url: str, store: PhotoStore, photo_id: int) -> bytes:
    """The photo's original taken out of the store; its bytes, to restore it from later."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        sha256 = session.get_one(Photo, photo_id).sha256
    engine.dispose()
    path = store.path_for(sha256)
    data = path.read_bytes()
    path.unlink()
    return data


def _run_with_a_restored_photo(tmp_path: Path, model: Path, monkeypatch: Any) -> tuple[Path, str]:
    """Under OLD_CODE, run 1 of `rescore` scored photos 1 and 3 and recorded photo 2 as missing
    from the store, which was restored since; (serving.yaml, database URL)."""
    new_code(monkeypatch, OLD_CODE)
    config, url, store_root = cli_service(tmp_path, 3, model)
    store = PhotoStore(store_root)
    kept = _lose(url, store, 2)
    damaged = _rescore(model, config)
    assert error_code(damaged) == "photo_store_damaged", damaged.output
    store.put(kept)  # restored from a backup
    return config, url


def test_a_retry_refused_for_a_restored_photo_names_the_photos_it_retries(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 (finished, not promoted) under the old code; `rescore --retry-failed` under the
    new code is refused, its reason names the photos recorded without a score, which the
    command was asked to score again, and it counts the outcomes the discard it names deletes."""
    config, _ = _run_with_a_restored_photo(tmp_path, model, monkeypatch)
    new_code(monkeypatch, NEW_CODE)
    refused = _rescore(model, config, "--retry-failed")
    assert error_code(refused) == "rescore_resume_mismatch", refused.output
    said = refused.exception.message
    assert (
        "It has photos still to score (recorded without a score, which --retry-failed scores "
        "again; restored to the photo store, or uploaded since it finished)"
    ) in said
    assert "No promotion adopted its scores" in said
    # The count told is what the discard it names deletes: the restored photo's outcome too,
    # whose delete the refusal rolled back.
    assert "(its 3 outcome(s) are deleted)" in said, said
    assert run_discard_named(said, model, config) == (2, 1)


def test_a_retry_refused_for_a_restored_photo_names_the_new_run_with_retry_failed(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1 promoted, then the code updated: `rescore --retry-failed` is refused for the
    restored photo, and the new run it names carries --retry-failed; followed, it scores it."""
    config, _ = _run_with_a_restored_photo(tmp_path, model, monkeypatch)
    promoted = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress")
    assert promoted.exit_code == 0, promoted.output
    new_code(monkeypatch, NEW_CODE)
    refused = _rescore(model, config, "--retry-failed")
    assert error_code(refused) == "rescore_resume_mismatch", refused.output
    said = refused.exception.message
    assert "`rescore promote` adopted its scores, so it is kept" in said
    retry_run_named_scores_one(said, "2026-01-02", model, config)


def test_a_ray_retry_refused_for_a_restored_photo_names_the_call_with_retry_failed(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, no_ray: None
) -> None:
    """The pipeline's run, finished under the old code, recorded photo 2 as missing, which was
    restored since; the call with retry_failed=True under the new code is refused, and named
    again with it."""
    new_code(monkeypatch, OLD_CODE)
    _, url, store_root = cli_service(tmp_path, 3, model)
    finished_ray_run(url, model, [1, 3], [2])  # 2's original is in the store
    new_code(monkeypatch, NEW_CODE)
    with pytest.raises(RescoreResumeError) as refused:
        rescore_with_ray(url, store_root, model, model_version=VERSION, prefer="cpu",
                         max_pixels=MAX_PIXELS, retry_failed=True)  # fmt: skip
    message = refused.value.message
    assert "recorded without a score, which retry_failed=True scores again" in message
    call = "`rescore_with_ray(..., retry_failed=True)`"
    assert f"and call {call} again, which scores every photo anew; or call {call} again" in (
        message
    )
    assert "`rescore_with_ray(...)`" not in message
