"""A re-scoring run's id names one run for good: `rescore discard` deletes the row, and SQLite
gave its id to the next run (the audit log then named two runs by one run_id). Migration
0012 rebuilds rescore_runs with AUTOINCREMENT, keeping the rows of a database upgraded."""

from __future__ import annotations

from alembic import command
from sqlalchemy import delete, select, text

from serving.db.models import RescoreRun
from serving.db.session import make_engine, make_session_factory
from serving.migrations import alembic_config, upgrade


def _add(session_factory, version: str) -> int:
    with session_factory() as session, session.begin():
        run = RescoreRun(model_version=version, since_key="")
        session.add(run)
        session.flush()
        return run.id


def _discard(session_factory, run_id: int) -> None:
    with session_factory() as session, session.begin():
        session.execute(delete(RescoreRun).where(RescoreRun.id == run_id))


def test_a_discarded_runs_id_is_not_given_to_the_next_run(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    first = _add(factory, "m1")
    newest = _add(factory, "m2")
    _discard(factory, newest)  # as `rescore discard` does with the newest run
    again = _add(factory, "m2")
    engine.dispose()
    assert again > newest > first


def test_the_upgrade_keeps_the_runs_and_their_ids(tmp_path):
    url = f"sqlite:///{tmp_path / 'service.db'}"
    command.upgrade(alembic_config(url), "0011")
    engine = make_engine(url)
    with engine.begin() as connection:
        for run_id, version in ((3, "a"), (7, "b")):
            connection.execute(
                text(
                    "INSERT INTO rescore_runs (id, model_version, since_key, status, "
                    "last_photo_id, scored, failed, started_at, updated_at) VALUES "
                    "(:id, :v, '', 'finished', 0, 0, 0, '2026-01-01', '2026-01-01')"
                ),
                {"id": run_id, "v": version},
            )
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        kept = [
            (r.id, r.model_version)
            for r in session.scalars(select(RescoreRun).order_by(RescoreRun.id))
        ]
    _discard(factory, 7)
    after = _add(factory, "c")
    engine.dispose()
    assert kept == [(3, "a"), (7, "b")]
    assert after == 8
