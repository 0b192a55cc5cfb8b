"""SQLite databases already migrated to this code's head for the apps the service tests start:
a copy of one template per process, made by the service's own `upgrade`, instead of the
migrations run again at every app start (most of a short test's start). Only a database file
not made yet is a copy: a test that migrated its database itself, or left it at an older
revision, starts its app on that; `database_url` stays an empty database, for the tests of
migrating."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_TEMPLATE: dict[str, Path] = {}


def migrated_sqlite(path: Path) -> str:
    """The URL of a SQLite database at `path`, a copy of a database migrated to head (this
    process's template); a file already at `path` is left as it is."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template(), path)
    return f"sqlite:///{path}"


def migrated_if_new(url: str) -> str:
    """`url`; a SQLite file it names that does not exist yet is made a migrated copy first
    (`migrated_sqlite`). Another database (PostgreSQL) is left to the app's start to migrate."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not Path(url[len(prefix) :]).exists():
        migrated_sqlite(Path(url[len(prefix) :]))
    return url


def _template() -> Path:
    if "file" not in _TEMPLATE:
        from serving.migrations import upgrade

        folder = Path(tempfile.mkdtemp(prefix="shanyraq-test-db-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        upgrade(f"sqlite:///{folder / 'template.db'}")
        _TEMPLATE["file"] = folder / "template.db"
    return _TEMPLATE["file"]
