"""`shanyraq rescore` and the photo store: originals missing from it or changed in it are named
as damage to the store (not as a bad upload), end the command with `photo_store_damaged`, and
are scored once restored; a second re-scoring of one model version is refused before it scores
anything (`rescore_busy`), and the database's own guard behind that lock is a clear error."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from serving.db.models import AuditEntry, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from shanyraq.errors import ShanyraqError
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_store_helpers import (
    photo_outcomes,
    rescore_stored,
    stored_hashes,
    stored_service,
)
from vision.bulk import open_scorer


def test_originals_missing_or_changed_in_the_store_are_named_and_fail_the_run(tmp_path, model):
    config, stored = stored_service(tmp_path, 6)
    gone, changed = stored.ids[1], stored.ids[4]
    sha = dict(zip(stored.ids, stored_hashes(stored), strict=True))
    kept = {i: stored.store.path_for(sha[i]).read_bytes() for i in (gone, changed)}
    stored.store.path_for(sha[gone]).unlink()
    stored.store.path_for(sha[changed]).write_text("garbage\n")

    result = rescore_stored(model, config)
    assert error_code(result) == "photo_store_damaged", result.output
    message = str(result.exception)
    assert f"photos {gone}, {changed}" in message and "2 original(s)" in message
    assert "Restore those files from a backup" in message
    assert "complete but for 2 photo(s) the store could not give" in result.output
    assert "send a JPEG" not in result.output  # an upload's wording, not the store's
    outcomes = photo_outcomes(stored.url)
    assert outcomes[gone] == (False, "the photo file is missing from the store")
    assert outcomes[changed][0] is False and "content hash" in str(outcomes[changed][1])
    assert sum(ok for ok, _ in outcomes.values()) == 4

    again = rescore_stored(model, config)  # still damaged: still said, nothing else re-scored
    assert error_code(again) == "photo_store_damaged" and "this session: 0 photo(s)" in again.output

    for photo_id, data in kept.items():  # restored from a backup
        stored.store.path_for(sha[photo_id]).write_bytes(data)
    restored = rescore_stored(model, config)
    assert restored.exit_code == 0, restored.output
    assert "2 restored photo(s) scored again" in restored.output and ": complete" in restored.output
    assert all(ok for ok, _ in photo_outcomes(stored.url).values())
    verified = run_cli("audit", "verify", "--config", config)
    assert verified.exit_code == 0, verified.output


def test_a_second_rescore_of_the_model_is_refused_before_it_scores(tmp_path, model):
    from serving.rescore_lock import rescore_lock

    config, stored = stored_service(tmp_path, 3)
    engine = make_engine(stored.url)
    with session_scope(make_session_factory(engine)) as session:  # the other one's run
        session.add(RescoreRun(model_version="test-0", since_key=""))
    with rescore_lock(tmp_path / "data", "test-0"):  # held by "another process"
        busy = rescore_stored(model, config)
    assert error_code(busy) == "rescore_busy", busy.output
    message = str(busy.exception)
    assert "another re-scoring under test-0 is running" in message and "run 1" in message
    assert "Traceback" not in busy.output
    assert photo_outcomes(stored.url) == {}  # nothing scored twice, nothing at all
    with make_session_factory(engine)() as session:
        actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert "photos_rescored" not in actions
    engine.dispose()

    done = rescore_stored(model, config)  # once it is released
    assert done.exit_code == 0, done.output
    assert not list((tmp_path / "data").glob(".rescore-*.lock"))


def test_a_run_advanced_by_another_process_stops_with_a_clear_error(tmp_path, model):
    """Behind the lock (another machine on one PostgreSQL database): the compare-and-set of
    the run's cursor fails, and the loser stops with a domain error, not a RuntimeError."""
    from serving.rescore import rescore

    _, stored = stored_service(tmp_path, 6)
    engine = make_engine(stored.url)
    other = make_engine(stored.url)
    scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)

    def advanced_elsewhere(_done: int) -> None:
        moved = update(RescoreRun).values(last_photo_id=RescoreRun.last_photo_id + 1)
        with other.begin() as connection:
            connection.execute(moved)

    try:
        with pytest.raises(ShanyraqError) as stopped:
            rescore(engine, stored.store, scorer, batch_size=2, progress=False,
                    on_batch=advanced_elsewhere)  # fmt: skip
    finally:
        engine.dispose()
        other.dispose()
    assert stopped.value.code == "rescore_busy"
    assert "run one re-scoring per model version at a time" in stopped.value.message
