"""The run folder's record is replaced whole: a failed write keeps the last one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.run_folder import RUN_JSON, RunFolder


def test_a_failed_record_write_keeps_the_last_whole_record(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path / "run", resumed_after=None)
    folder.write_record({"epochs_run": 1})

    def disk_full(path: Path, text: str, **kwargs: object) -> int:
        with open(path, "w", encoding="utf-8") as handle:  # half the text, then the disk is full
            handle.write(text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space"):
        folder.write_record({"epochs_run": 2})
    monkeypatch.undo()

    assert json.loads((tmp_path / "run" / RUN_JSON).read_text()) == {"epochs_run": 1}
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [RUN_JSON]
