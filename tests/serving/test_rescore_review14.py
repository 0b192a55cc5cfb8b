"""Re-scoring, review 14: an original the store holds but cannot read (a directory in its
place, permission denied, a disk error) is damage to the store like a missing one: the photo
keeps its old score, the report counts and names it with the reason, and the run goes on."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import AuditEntry, Photo, RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.rescore import rescore
from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_fixtures import (
    StoredPhotos,
    cli_config,
    populate,
    tiny_model,
)
from tests.serving.rescore_helpers import late_upload, new_code
from vision.bulk import open_scorer

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    model = tiny_model(tmp_path_factory.mktemp("models"))
    return open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS, decode_short_side=1024)


def _sha(engine: Any, photo_id: int) -> str:
    with make_session_factory(engine)() as session:
        return session.execute(select(Photo.sha256).where(Photo.id == photo_id)).scalar_one()


def _outcomes(engine: Any) -> dict[int, tuple[bool, str | None]]:
    with make_session_factory(engine)() as session:
        rows = session.execute(select(RescoredScore)).scalars().all()
        return {row.photo_id: (row.score is not None, row.error) for row in rows}


def _setup(tmp_path: Path, n: int) -> tuple[StoredPhotos, Any]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    return populate(url, tmp_path / "photos", n), make_engine(url)


def test_a_directory_in_place_of_an_original_is_store_damage_and_the_run_goes_on(
    tmp_path: Path, scorer: Any
) -> None:
    stored, engine = _setup(tmp_path, 5)
    blocked = stored.ids[2]
    path = stored.store.path_for(_sha(engine, blocked))
    kept = path.read_bytes()
    path.unlink()
    path.mkdir()  # a directory where the file should be: IsADirectoryError on read

    report = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert report.complete and report.this_session == 5
    assert report.scored == 4 and report.failed == 1
    assert report.store_damaged == 1 and report.store_damaged_ids == [blocked]
    [(photo_id, why)] = report.failures
    assert photo_id == blocked and "cannot be read" in why and "directory" in why.lower()
    outcomes = _outcomes(engine)
    assert outcomes[blocked][0] is False and outcomes[blocked][1] == why
    assert sum(ok for ok, _ in outcomes.values()) == 4

    again = rescore(engine, stored.store, scorer, progress=False)  # still unreadable
    assert again.complete and again.this_session == 0 and again.store_damaged == 1

    path.rmdir()  # repaired: the file restored from a backup
    path.write_bytes(kept)
    restored = rescore(engine, stored.store, scorer, progress=False)
    assert restored.restored == 1 and restored.store_damaged == 0 and restored.complete
    assert all(ok for ok, _ in _outcomes(engine).values())
    engine.dispose()


@pytest.mark.parametrize(
    "error",
    [PermissionError(errno.EACCES, "Permission denied"), OSError(errno.EIO, "I/O error")],
    ids=["permission", "eio"],
)
def test_an_original_the_store_fails_to_read_is_named_with_its_reason(
    tmp_path: Path, scorer: Any, monkeypatch: pytest.MonkeyPatch, error: OSError
) -> None:
    stored, engine = _setup(tmp_path, 4)
    broken = stored.ids[1]
    broken_sha = _sha(engine, broken)
    read = PhotoStore.read

    def failing_read(self: PhotoStore, sha256: str) -> bytes:
        if sha256 == broken_sha:
            raise error
        return read(self, sha256)

    monkeypatch.setattr(PhotoStore, "read", failing_read)
    report = rescore(engine, stored.store, scorer, batch_size=3, progress=False)
    assert report.complete and report.scored == 3 and report.store_damaged_ids == [broken]
    why = dict(report.failures)[broken]
    assert "cannot be read" in why and str(error.strerror) in why
    # Still failing: the next call neither stops nor scores anything again.
    again = rescore(engine, stored.store, scorer, progress=False)
    assert again.this_session == 0 and again.store_damaged == 1 and again.restored == 0

    monkeypatch.setattr(PhotoStore, "read", read)  # readable again
    restored = rescore(engine, stored.store, scorer, progress=False)
    assert restored.restored == 1 and restored.store_damaged == 0
    assert all(ok for ok, _ in _outcomes(engine).values())
    engine.dispose()


def test_the_command_names_an_unreadable_original_and_scores_the_rest(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "models")
    config = cli_config(tmp_path, 3)
    url = f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"
    engine = make_engine(url)
    store = PhotoStore(tmp_path / "data" / "photos")
    path = store.path_for(_sha(engine, 2))
    path.unlink()
    path.mkdir()

    result = run_cli("rescore", "--model", model, "--device", "cpu", "--no-progress",
                     "--config", config)  # fmt: skip
    assert error_code(result) == "photo_store_damaged", result.output
    assert "Traceback" not in result.output
    message = str(result.exception)
    assert "1 original(s)" in message and "photos 2" in message and "cannot be read" in message
    assert "photo 2: the photo file cannot be read from the store (Is a directory)" in result.output
    assert "scored: 2; without a score (reason recorded): 1" in result.output
    engine.dispose()


# --- a finished run under new code (task: "cannot be continued") -------------------------


def test_a_finished_run_under_new_code_is_discarded_and_scored_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an update, a finished run with photos still to score went nowhere: its resume was
    refused (only the old code could go on), --restart refused a finished run, a --since run
    was refused while it held unpromoted scores, and promotion was refused for the photos
    left. `rescore discard` is the way out, named by each of those refusals."""
    model = tiny_model(tmp_path / "models")
    config = cli_config(tmp_path, 3, model_dir=model)
    data = tmp_path / "data"
    url, store = f"sqlite:///{data / 'shanyraq.db'}", PhotoStore(data / "photos")
    common = ("--model", model, "--config", config)
    rescore_cmd = ("rescore", *common, "--device", "cpu", "--no-progress")
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")
    assert run_cli(*rescore_cmd).exit_code == 0
    late_upload(url, store, day=10, seed=1)
    new_code(monkeypatch, "0.1.0+bbbbbbbbbbbb")

    resumed = run_cli(*rescore_cmd)
    assert error_code(resumed) == "rescore_resume_mismatch", resumed.output
    said = str(resumed.exception)
    assert "No promotion adopted its scores" in said and "--restart" not in said
    assert (
        f"`shanyraq rescore discard --model DIR --config {config}` (its 3 outcome(s) are deleted)"
        in said
    )
    restarted = run_cli(*rescore_cmd, "--restart")
    assert error_code(restarted) == "rescore_restart_refused"
    discard = f"discard it with `shanyraq rescore discard --model DIR --config {config}`"
    assert discard in str(restarted.exception)
    since = run_cli(*rescore_cmd, "--since", "2026-01-11")  # as promote's refusal says
    assert error_code(since) == "rescore_provenance_conflict"
    assert discard in str(since.exception)

    missing = run_cli("rescore", "discard", *common, "--since", "2026-01-02")
    assert error_code(missing) == "rescore_discard_refused"
    assert "no re-scoring run under test-0 with --since 2026-01-02" in str(missing.exception)
    discarded = run_cli("rescore", "discard", *common)
    assert discarded.exit_code == 0, discarded.output
    assert "discarded re-scoring run 1 under test-0 (finished): deleted 3 score(s)" in (
        discarded.output
    )
    again = run_cli(*rescore_cmd)
    assert again.exit_code == 0, again.output
    assert "photos in scope: 4; scored: 4" in again.output and "code 0.1.0+bbbbbbbbbbbb" in (
        again.output
    )
    promoted = run_cli("rescore", "promote", *common)
    assert promoted.exit_code == 0, promoted.output
    assert "photos to update: 4" in promoted.output
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        runs = session.execute(select(RescoreRun)).scalars().all()
        on_model = session.execute(select(Photo.model_version)).scalars().all()
    engine.dispose()
    [entry] = [e for e in entries if e.action == "rescore_discarded"]
    assert entry.target == "model:test-0" and entry.details["discarded_scored"] == 3
    assert entry.details["provenance"]["code_version"] == "0.1.0+aaaaaaaaaaaa"
    assert [(r.code_version, r.status) for r in runs] == [("0.1.0+bbbbbbbbbbbb", "done")]
    assert on_model == ["test-0"] * 4  # the late upload too
    assert run_cli("audit", "verify", "--config", config).exit_code == 0

    # Promoted: kept, and the refusals say so instead of offering to discard it.
    new_code(monkeypatch, "0.1.0+cccccccccccc")
    kept = run_cli("rescore", "discard", *common)
    assert error_code(kept) == "rescore_discard_refused" and "it is kept" in str(kept.exception)
    # ... and names the way under the current code: a new run (another --since), then promote.
    assert "start a new run" in str(kept.exception) and "--since" in str(kept.exception)
    refused = run_cli(*rescore_cmd, "--restart")
    assert error_code(refused) == "rescore_restart_refused"
    assert "adopted its scores" in str(refused.exception)
    assert "discard" not in str(refused.exception)
    late_upload(url, store, day=11, seed=2)
    reopened = run_cli(*rescore_cmd)  # only the code it recorded can score it
    assert error_code(reopened) == "rescore_resume_mismatch"
    assert "as the run was started" in str(reopened.exception)
    assert "discard" not in str(reopened.exception)
