"""`shanyraq db backup OUT --overwrite` never writes over the service's own files or into its
stores: the database and its -wal, -shm and -journal, the signing key, the audit anchor (where
the settings put it), the photo store and the heat-map cache, however OUT names them (a
symbolic link, `..`, a hard link). A file that is not a SQLite database is one clear error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.helpers import PASSWORD


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _config(tmp_path: Path, *, anchor: Path | None = None) -> Path:
    """serving.yaml of a SQLite service in tmp_path/data whose key is the file there."""
    config = tmp_path / "serving.yaml"
    text = f"data_dir: {tmp_path / 'data'}\ndatabase_url: ''\n"
    config.write_text(text + (f"audit_anchor_file: {anchor}\n" if anchor else ""))
    return config


def _installed(tmp_path: Path, *, anchor: Path | None = None) -> Path:
    config = _config(tmp_path, anchor=anchor)
    added = _run("users", "add", "amina", "--role", "admin", "--password", PASSWORD,
                 "--config", config)  # fmt: skip
    assert added.exit_code == 0, added.output
    return config


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


# OUT, relative to tmp_path, and what the refusal calls it.
TARGETS = {
    "key": ("data/secret_key", "the signing key"),
    "anchor": ("data/audit_anchor.log", "the audit anchor file"),
    "database": ("data/shanyraq.db", "the live database itself"),
    "wal": ("data/shanyraq.db-wal", "-wal file"),
    "shm": ("data/shanyraq.db-shm", "-shm file"),
    "journal": ("data/shanyraq.db-journal", "-journal file"),
    "photo_store": ("data/photos/originals/ab/copy.db", "inside the photo store"),
    "store_itself": ("data/photos", "the photo store"),
    "heatmaps": ("data/heatmaps/m1/cividis/copy.db", "inside the heat-map cache"),
    "dot_dot": ("data/photos/../secret_key", "the signing key"),
}


@pytest.mark.parametrize("name", TARGETS)
def test_no_backup_over_or_into_the_service_s_files(name, tmp_path):
    config = _installed(tmp_path)
    before = _snapshot(tmp_path / "data")
    target, words = TARGETS[name]
    refused = _run("db", "backup", tmp_path / target, "--overwrite", "--config", config)
    assert _code(refused) == "output_exists", refused.output
    assert words in str(refused.exception) and "give a path outside" in str(refused.exception)
    assert _snapshot(tmp_path / "data") == before  # nothing replaced, nothing made
    verified = _run("audit", "verify", "--config", config)
    assert verified.exit_code == 0, verified.output


def test_a_link_to_the_key_is_refused_symbolic_or_hard(tmp_path):
    config = _installed(tmp_path)
    key = tmp_path / "data" / "secret_key"
    kept = key.read_bytes()
    (tmp_path / "sym").symlink_to(key)
    os.link(key, tmp_path / "hard")
    for out in (tmp_path / "sym", tmp_path / "hard"):
        refused = _run("db", "backup", out, "--overwrite", "--config", config)
        assert _code(refused) == "output_exists" and "the signing key" in str(refused.exception)
    assert key.read_bytes() == kept
    assert _run("audit", "verify", "--config", config).exit_code == 0


def test_an_anchor_file_kept_elsewhere_is_refused_too(tmp_path):
    anchor = tmp_path / "elsewhere" / "anchor.log"
    config = _installed(tmp_path, anchor=anchor)
    kept = anchor.read_bytes()
    refused = _run("db", "backup", anchor, "--overwrite", "--config", config)
    assert _code(refused) == "output_exists" and "audit anchor" in str(refused.exception)
    assert anchor.read_bytes() == kept


def test_a_backup_beside_them_in_the_data_folder_is_still_made(tmp_path):
    config = _installed(tmp_path)
    made = _run("db", "backup", tmp_path / "data" / "backup.db", "--config", config)
    assert made.exit_code == 0, made.output
    assert _run("audit", "verify", "--config", config).exit_code == 0


def test_a_backup_of_a_file_that_is_not_sqlite_is_one_clear_error(tmp_path):
    config = _config(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "shanyraq.db").write_text("photo,sha256,family_id\na.jpg,abc,f1\n")
    out = tmp_path / "b.db"
    refused = _run("db", "backup", out, "--config", config)
    assert _code(refused) == "database_unavailable", refused.output
    assert "file is not a database" in str(refused.exception)
    assert "--config" in str(refused.exception)  # where the database is set
    assert not out.exists()


def test_the_names_of_the_service_s_files_are_the_ones_it_uses(tmp_path):
    """serving.data_dir names the key file and the heat-map cache for the refusal above; the
    settings make the key there and the heat maps are cached there."""
    from serving.core.config import load_serving_settings
    from serving.data_dir import HEATMAP_CACHE_DIR, KEY_FILE, service_paths
    from serving.web.heatmap_cache import CACHE_DIR

    settings = load_serving_settings(_config(tmp_path))
    settings.signing_key(create=True)
    assert (tmp_path / "data" / KEY_FILE).is_file()
    assert HEATMAP_CACHE_DIR == CACHE_DIR
    assert set(service_paths(settings)) == {
        tmp_path / "data" / KEY_FILE, settings.resolved_audit_anchor_file, settings.store_dir,
        tmp_path / "data" / HEATMAP_CACHE_DIR,
    }  # fmt: skip
