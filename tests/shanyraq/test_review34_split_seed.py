"""`shanyraq data split --seed` takes no negative seed: Python's random.Random(-3) draws the
split of seed 3, so a negative seed gave another seed's split under its own name (a manifest
split "with seed -3" the same as one "with seed 3"). Refused as a usage error naming the option,
as the welfare and synth commands refuse a negative seed, before anything is written."""

from __future__ import annotations

import pytest

from tests.shanyraq.cli_helpers import run_main_code_err
from tests.shanyraq.manifest_helpers import clean_rows, write_rows


@pytest.mark.parametrize("seed", ["-3", "-1"])
def test_a_negative_split_seed_is_a_usage_error(seed, tmp_path, monkeypatch, capsys):
    source = write_rows(tmp_path, clean_rows(tmp_path))
    out = tmp_path / "split.csv"
    code, err = run_main_code_err(
        monkeypatch, capsys, "data", "split", str(source), "--out", str(out), "--seed", seed
    )
    assert code == 2, err
    assert "--seed" in err and "greater than or equal to 0" in err, err
    assert "Traceback" not in err
    assert not out.exists()


def test_seed_zero_still_splits(tmp_path, monkeypatch, capsys):
    source = write_rows(tmp_path, clean_rows(tmp_path))
    out = tmp_path / "split.csv"
    code, err = run_main_code_err(
        monkeypatch, capsys, "data", "split", str(source), "--out", str(out), "--seed", "0"
    )
    assert code == 0, err
    assert out.exists()
