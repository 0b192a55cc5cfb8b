"""A photo without a score holds SQL NULL (migration 0007 and `JSON(none_as_null=True)`), on
SQLite and PostgreSQL: `score IS NULL` finds it, and it still reads back as None."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select, text

from serving.db.models import Photo
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.migrations import alembic_config, upgrade
from tests.serving.rescore_fixtures import populate


def _sql_nulls(engine, column: str) -> list[int]:
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id FROM photos WHERE {column} IS NULL"))
        return sorted(r[0] for r in rows)


def test_json_null_written_before_0007_becomes_sql_null(tmp_path, database_url):
    stored = populate(database_url, tmp_path / "photos", 3)
    first, second, third = stored.ids
    command.downgrade(alembic_config(database_url), "0006")
    engine = make_engine(database_url)
    with engine.begin() as connection:  # as the service wrote an unscored photo before 0007
        connection.execute(text(f"UPDATE photos SET score = 'null' WHERE id = {first}"))
        connection.execute(text(f"UPDATE photos SET quality = 'null' WHERE id = {second}"))
    assert _sql_nulls(engine, "score") == [] and _sql_nulls(engine, "quality") == []

    upgrade(database_url)
    assert _sql_nulls(engine, "score") == [first]
    assert _sql_nulls(engine, "quality") == [second]
    with make_session_factory(engine)() as session:
        photos = {p.id: p for p in session.execute(select(Photo)).scalars()}
    assert photos[first].score is None and photos[first].quality is not None
    assert photos[second].quality is None and photos[second].score is not None
    assert photos[third].score == {"model_version": "old-model", "marker": 2}  # kept as it was
    engine.dispose()


def test_a_photo_stored_without_a_score_is_sql_null(tmp_path, database_url):
    stored = populate(database_url, tmp_path / "photos", 2)
    engine = make_engine(database_url)
    with session_scope(make_session_factory(engine)) as session:
        session.get(Photo, stored.ids[1]).score = None
    assert _sql_nulls(engine, "score") == [stored.ids[1]]
    with make_session_factory(engine)() as session:
        scored = session.execute(select(Photo.id).where(Photo.score.is_not(None))).scalars()
        assert list(scored) == [stored.ids[0]]
    engine.dispose()
