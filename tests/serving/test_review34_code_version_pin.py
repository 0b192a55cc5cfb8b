"""The code version a test's re-scoring runs record stays the same for the whole test, though
the checkout changes under it (others edit the shared tree while the suite runs): it is the
real one, read from the tree once per folder, and a test's own `new_code` goes on top."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from sqlalchemy import select

from serving.db.models import RescoreRun
from serving.db.session import make_session_factory
from serving.rescore import rescore
from shanyraq import provenance
from tests.serving.rescore_helpers import NEW_CODE, Stop, new_code, stop, stored_with_scorer

EDITED = "9.9.9"  # the package version, as an edit of the checkout under the test changes it


def test_a_run_started_before_the_checkout_changed_still_resumes(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the resume read the tree anew and was refused, "started with another code
    version", where nothing but a file of the shared checkout had changed."""
    _, stored, engine, scorer = stored_with_scorer(tmp_path, model, 4)
    with pytest.raises(Stop):
        rescore(engine, stored.store, scorer, batch_size=2, progress=False, on_batch=stop)
    real = inspect.unwrap(provenance.code_version)
    started = real()
    monkeypatch.setattr(provenance, "__version__", EDITED)
    assert real() != started  # the tree now says another version
    report = rescore(engine, stored.store, scorer, batch_size=2, progress=False)
    assert report.resumed and report.complete and report.scored == 4
    with make_session_factory(engine)() as session:
        recorded = session.execute(select(RescoreRun.code_version)).scalar_one()
    assert recorded == started
    engine.dispose()


def test_the_version_kept_is_the_real_one_per_folder_and_new_code_goes_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = inspect.unwrap(provenance.code_version)
    assert real is not provenance.code_version  # kept for the test, not read at each call
    package, elsewhere = provenance.code_version(), provenance.code_version(tmp_path)
    assert (package, elsewhere) == (real(), real(tmp_path))  # each folder's own, as read
    monkeypatch.setattr(provenance, "__version__", EDITED)
    assert (provenance.code_version(), provenance.code_version(tmp_path)) == (package, elsewhere)
    new_code(monkeypatch, NEW_CODE)
    assert provenance.code_version() == provenance.code_version(tmp_path) == NEW_CODE
