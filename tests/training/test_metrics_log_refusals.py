"""A damaged metrics.csv on `train --resume` is one clear error naming the file and the line,
and the run folder is left as it was; before, it ended in a ValueError, KeyError or
UnicodeDecodeError traceback (or, for a short row, was rewritten silently with empty cells).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.refusals import error_code
from training.metrics_log import MetricsLog
from training.run_folder import METRICS_CSV
from training.train import train

HEADER = "epoch,train_loss,val_score\r\n"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (HEADER + "1,0.5,0.1\r\nx2,0.4,0.2\r\n", "line 3: epoch 'x2' is not a whole number"),
        (HEADER + "1,0.5,0.1\r\n2,0.4\r\n", "line 3 has 2 values, the header 3"),
        ("train_loss,val_score\r\n0.5,0.1\r\n", "line 1 is not the log's header"),
        (HEADER.encode() + b"1,0.5,\xff\r\n", "line 2"),
        (HEADER + '1,"0.5"x,0.1\r\n', "line 2: ',' expected after '\"'"),
        (HEADER + '1,"0.5\r\n', "line 2: unexpected end of data"),
    ],
    ids=["epoch", "short-row", "header", "not-utf8", "stray-quote", "open-quote"],
)
def test_a_malformed_log_is_one_error_naming_the_file_and_line(tmp_path, content, says):
    path = tmp_path / METRICS_CSV
    if isinstance(content, str):
        path.write_text(content, newline="")
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(Exception) as refused:
        MetricsLog(path).truncate_after(1)
    assert error_code(refused.value) == "metrics_log_invalid", refused.value
    message = refused.value.message
    assert message.startswith(str(path)) and says in message, message
    assert "move the file away" in message and "\n" not in message
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [METRICS_CSV]


@pytest.mark.slow
def test_resume_with_a_damaged_log_is_refused_and_changes_nothing(
    toy_manifest, tmp_path, tiny_recipe
):
    recipe = tiny_recipe(toy_manifest, tmp_path / "run")
    train(recipe, stop_after_epoch=1)
    log = tmp_path / "run" / METRICS_CSV
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + "one," + lines[1].split(",", 1)[1], newline="")
    before = snapshot(tmp_path / "run")
    with pytest.raises(Exception) as refused:
        train(recipe, resume=True)
    assert error_code(refused.value) == "metrics_log_invalid", refused.value
    assert f"{log}: line 2: epoch 'one' is not a whole number" in refused.value.message
    assert snapshot(tmp_path / "run") == before
