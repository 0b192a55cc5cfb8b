"""The Ray Data re-scoring pipeline on a local Ray instance with the CPU engine."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from serving.db.session import make_engine, make_session_factory
from serving.rescore import rescore, scores_for
from serving.rescore_ray import RayMissingError, _ray, read_query, rescore_with_ray
from serving.rescore_ray_actor import Database
from tests.serving.rescore_fixtures import DAY0, populate, tiny_model
from vision.bulk import PhotoBytes, open_scorer

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install 'ray[data]'")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("models"))


def test_read_query_uses_the_dialects_placeholders():
    sql, params = read_query(Database("sqlite:///x.db"), "v1", DAY0)
    assert sql.count("?") == 2 and params[0] == "v1" and params[1].startswith("2026-01-01 00:00")
    sql, params = read_query(Database("postgresql+psycopg://u@h/db"), "v1", None)
    assert sql.count("%s") == 1 and params == ("v1",) and "created_at" not in sql


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayMissingError, match=r"pip install 'ray\[data\]"):
        _ray()


@pytest.mark.slow
def test_pipeline_scores_the_rest_exactly_once(tmp_path, local_ray, model):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 17, bad={2: b""})
    engine = make_engine(url)
    scorer = open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)
    # An earlier (in-process) run already scored the newest photos: Ray must do only the rest.
    early = rescore(engine, stored.store, scorer, since=DAY0 + timedelta(days=12), progress=False)
    assert early.scored == 5

    report = rescore_with_ray(
        url, tmp_path / "photos", model, model_version=scorer.model_version, batch_size=4,
        concurrency=1, prefer="cpu", max_pixels=MAX_PIXELS,
    )  # fmt: skip
    assert report.complete and (report.in_scope, report.scored, report.failed) == (17, 11, 1)
    assert report.by_other_runs == 5  # the in-process run's scores of the newest photos
    assert report.written_now == 12
    with make_session_factory(engine)() as session:
        rows = scores_for(session, scorer.model_version)
        photo_id = stored.ids[4]
        recorded, missing = rows[photo_id].score, rows[stored.ids[2]]
        assert recorded is not None
        sha256 = recorded["photo_sha256"]
    assert sorted(rows) == stored.ids  # every photo has exactly one outcome under the version
    assert missing.score is None and "missing" in (missing.error or "")
    direct = scorer.infer(scorer.prepare([PhotoBytes(photo_id, sha256, stored.store.read(sha256))]))
    assert direct[0].score is not None
    assert recorded["room"] == pytest.approx(direct[0].score.room, abs=1e-6)

    again = rescore_with_ray(
        url, tmp_path / "photos", model, model_version=scorer.model_version, batch_size=4,
        prefer="cpu", max_pixels=MAX_PIXELS,
    )  # fmt: skip
    assert again.written_now == 0 and again.complete
    engine.dispose()
