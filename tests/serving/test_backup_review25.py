"""`shanyraq db backup OUT`: an OUT that is the database's own folder is refused
with a file to name that the backup then writes, not the live database's own path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving.backup_helpers import live_database
from tests.serving.cli_helpers import error_code, run_cli


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_backup_to_the_database_s_folder_names_a_file_it_can_write(overwrite, tmp_path, live):
    database = live_database(tmp_path)
    result = run_cli("db", "backup", database.parent, *overwrite, "--config", live)
    assert error_code(result) == "output_path_invalid", result.output
    message = str(result.exception)
    assert "is a folder" in message
    assert str(database) not in message  # the live database is no backup file to name
    named = message.rsplit("e.g. ", 1)[1]
    followed = run_cli("db", "backup", named, *overwrite, "--config", live)
    assert followed.exit_code == 0, followed.output
    assert f"backup written: {named}" in followed.output
    assert Path(named).is_file() and not Path(named).samefile(database)
