"""tests/library_once_helpers.py keeps alembic's ScriptDirectory per configuration and per
state of its revision files: the same folder is read once, and an added or edited revision is
seen."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from serving.migrations import alembic_config

MIGRATIONS = Path(__file__).resolve().parents[1] / "serving" / "migrations"


def _config(location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(location))
    return config


def test_the_services_scripts_are_read_once_whatever_the_database():
    first = ScriptDirectory.from_config(alembic_config("sqlite:///a.db"))
    assert ScriptDirectory.from_config(alembic_config("sqlite:///b.db")) is first
    assert (
        first.get_current_head()
        == ScriptDirectory.from_config.__wrapped__(  # type: ignore[attr-defined]
            alembic_config("")
        ).get_current_head()
    )


def test_an_added_revision_file_is_seen(tmp_path: Path):
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    before = ScriptDirectory.from_config(_config(location))
    assert ScriptDirectory.from_config(_config(location)) is before
    head = before.get_current_head()
    (location / "versions" / "9999_added.py").write_text(
        f'revision = "9999added"\ndown_revision = "{head}"\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade() -> None:\n    pass\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    after = ScriptDirectory.from_config(_config(location))
    assert after is not before
    assert after.get_current_head() == "9999added"


def test_an_edited_revision_file_is_seen(tmp_path: Path):
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    before = ScriptDirectory.from_config(_config(location))
    newest = max((location / "versions").glob("*.py"))
    stat = newest.stat()
    newest.write_text(newest.read_text() + "\n# edited\n")
    os.utime(newest, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time, other size
    assert ScriptDirectory.from_config(_config(location)) is not before
