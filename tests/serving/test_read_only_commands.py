"""What only reads writes nothing: the read-only engine leaves the SQLite file as it is (its
journal mode too), and the dry runs of `rescore promote` and `assessments refresh` neither
migrate a database behind this version (they refuse it, naming both migrations and how to
upgrade) nor change one that is up to date."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from typer.testing import CliRunner

from serving.db.session import make_engine, make_read_engine, make_read_session_factory
from serving.migrations import alembic_config, upgrade
from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.rescore_fixtures import cli_config, tiny_model

KEY = "read-only-test-key-0123456789abcdef-0123"
OLD_REVISION = "0005"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models"))


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def _files(folder: Path) -> dict[str, bytes | None]:
    """Everything under `folder`: each file's bytes (the -wal and -shm files included), and
    None for each folder."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in folder.rglob("*")
    }


def _ask(database: Path, sql: str) -> str:
    """The first value `sql` answers on the SQLite file, through a plain sqlite3 connection."""
    connection = sqlite3.connect(database)
    try:
        return str(connection.execute(sql).fetchone()[0])
    finally:
        connection.close()


# --- the read-only engine -------------------------------------------------------------------


def test_the_read_engine_leaves_the_journal_mode_and_the_file_alone(tmp_path):
    database = tmp_path / "plain.db"
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    connection.execute("INSERT INTO notes (body) VALUES ('kept')")
    connection.commit()
    connection.close()
    assert _ask(database, "PRAGMA journal_mode") == "delete"
    before = _files(tmp_path)
    writer = make_engine(f"sqlite:///{database}")  # not connected: only reads below
    reader = make_read_engine(writer)
    with make_read_session_factory(reader)() as session:
        assert session.execute(text("SELECT body FROM notes")).scalars().all() == ["kept"]
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "delete"
    reader.dispose()
    writer.dispose()
    assert _ask(database, "PRAGMA journal_mode") == "delete"
    assert _files(tmp_path) == before


# --- dry runs of a database behind this version ---------------------------------------------


DRY_RUNS = {
    "rescore promote": ["rescore", "promote", "--model", "{model}", "--dry-run", "--no-progress"],
    "assessments refresh": ["assessments", "refresh", "--as", "admin", "--dry-run"],
}


def _dry_run(name: str, model: Path, config: Path) -> Any:
    args = [arg.replace("{model}", str(model)) for arg in DRY_RUNS[name]]
    return _run(*args, "--config", config)


@pytest.mark.parametrize("name", DRY_RUNS)
def test_a_dry_run_refuses_a_database_behind_this_version_and_changes_nothing(
    name, tmp_path, model
):
    data_dir = tmp_path / "data"
    database = data_dir / "shanyraq.db"
    upgrade(f"sqlite:///{database}", OLD_REVISION)  # as an older version of the service left it
    config = tmp_path / "serving.yaml"
    config.write_text(f"data_dir: {data_dir}\ndatabase_url: ''\nsecret_key: {KEY}\n")
    before = _files(data_dir)

    result = _dry_run(name, model, config)

    assert isinstance(result.exception, ShanyraqError), result.output
    assert result.exception.code == "database_not_migrated"
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head != OLD_REVISION
    message = str(result.exception)
    assert f"is at migration {OLD_REVISION}" in message
    assert f"needs migration {head}" in message
    assert "`shanyraq serve`" in message and "auto_migrate" in message
    assert _files(data_dir) == before  # byte for byte; no folder, key or journal made
    assert _ask(database, "SELECT version_num FROM alembic_version") == OLD_REVISION


# --- dry runs of an up-to-date database -----------------------------------------------------


def test_dry_runs_and_verify_leave_an_up_to_date_database_byte_identical(tmp_path, model):
    """A service database whose journal mode is DELETE (as after a copy with the sqlite3
    shell's .backup): reading it must not switch it to WAL, nor touch anything else."""
    config = cli_config(tmp_path, 2, model_dir=model)  # an admin named "admin", two photos
    scored = _run("rescore", "--model", model, "--device", "cpu", "--no-progress",
                  "--config", config)  # fmt: skip
    assert scored.exit_code == 0, scored.output
    data_dir = tmp_path / "data"
    _ask(data_dir / "shanyraq.db", "PRAGMA journal_mode=DELETE")
    before = _files(data_dir)

    promoted = _dry_run("rescore promote", model, config)
    assert promoted.exit_code == 0, promoted.output
    assert "photos to update: 2" in promoted.output and "nothing was written" in promoted.output
    refreshed = _dry_run("assessments refresh", model, config)
    assert refreshed.exit_code == 0, refreshed.output
    assert "stale assessments in every region: 0" in refreshed.output
    verified = _run("audit", "verify", "--config", config)
    assert verified.exit_code == 0, verified.output

    assert _ask(data_dir / "shanyraq.db", "PRAGMA journal_mode") == "delete"
    assert _files(data_dir) == before
