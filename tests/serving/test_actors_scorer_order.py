"""The Ray pipeline's actors match the provider of the newest other run of their model version.

`actors_scorer` (serving/rescore_provenance.py) reads the other runs of the version on the same
scorer path that hold outcomes no promotion adopted. Where two of them recorded different
providers it took the first row the database returned (no ORDER BY): which provider bound the
actors was the database's row order. It takes the newest run's now.
"""

from __future__ import annotations

from pathlib import Path

from serving.db.models import RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_provenance import RunProvenance, actors_scorer
from tests.serving.migrated_sqlite import migrated_sqlite

VERSION = "m-1"


def _run(session, since_key: str, scorer: str, *, outcomes: int) -> RescoreRun:
    run = RescoreRun(
        model_version=VERSION, since_key=since_key, scorer=scorer, engine_config="e",
        code_version="c",
    )  # fmt: skip
    session.add(run)
    session.flush()
    for i in range(outcomes):
        session.add(RescoredScore(photo_id=100 * run.id + i, model_version=VERSION, run_id=run.id))
    return run


def test_the_newest_other_run_with_outcomes_names_the_provider(tmp_path: Path) -> None:
    engine = make_engine(migrated_sqlite(tmp_path / "db.sqlite"))
    sessions = make_session_factory(engine)
    try:
        with session_scope(sessions) as session:
            # The unique index on (model_version, since_key) lists them c, a, d, b: neither
            # newest nor oldest first, forwards or backwards.
            _run(session, "c", "gpu/tensorrt", outcomes=2)
            _run(session, "a", "gpu/cuda", outcomes=1)
            _run(session, "d", "gpu/tensorrt", outcomes=3)
            _run(session, "b", "gpu/cuda", outcomes=1)
            _run(session, "e", "gpu/tensorrt", outcomes=0)  # newest of all, but holds nothing
            _run(session, "f", "cpu", outcomes=4)  # another path
            mine = _run(session, "", "gpu", outcomes=0)
            provenance = RunProvenance("gpu", "e", "c")
            assert actors_scorer(session, mine, provenance) == "gpu/cuda"
    finally:
        engine.dispose()
