"""`shanyraq welfare` with an analyst's own files: defects found in the CLI review, part 13.

Before: a key given twice in a record or a scores file kept its last value and dropped the
other without a word (json's rule); one photo listed twice in a scores file counted as two
photos; a half-written LightGBM head file crashed the process (abort or segfault inside
LightGBM); a fusion.json naming a level decoding this version does not know was decoded with
argmax, and one with a temperature or Platt pair that is not numbers failed with a traceback;
`welfare evaluate` given one model's folder said it held no fusion models; a table row with
an empty family_id or region cell became the family "nan" or the region 'None', and two rows
with one family_id were each given both families' photos.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.refusals import error_code, must_not_run
from tests.welfare.families_helpers import family
from tests.welfare.score_helpers import good_score
from welfare.cli import app

runner = CliRunner()


def _record(tmp_path, welfare_config, text: str | None = None):
    path = tmp_path / "family.json"
    path.write_text(text if text is not None else json.dumps(family(welfare_config)))
    return path


# --- a key given twice ---------------------------------------------------------------------


def test_a_criterion_given_twice_in_the_record_is_refused_not_silently_dropped(
    tmp_path, welfare_config, monkeypatch
):
    monkeypatch.setattr("welfare.assess.assess", must_not_run("assess"))
    text = json.dumps(family(welfare_config, per_capita_income_kzt=20000.0))
    text = text.replace(
        '"per_capita_income_kzt": 20000.0',
        '"per_capita_income_kzt": 20000.0, "per_capita_income_kzt": null',
    )
    record = _record(tmp_path, welfare_config, text)
    result = runner.invoke(app, ["assess", str(record)])
    assert error_code(result.exception) == "input_file_invalid", result.output
    message = result.exception.message
    assert str(record) in message and "'per_capita_income_kzt' is given twice" in message


def test_a_field_given_twice_in_a_photo_score_is_refused_naming_the_photo(
    tmp_path, welfare_config, monkeypatch
):
    monkeypatch.setattr("welfare.assess.assess", must_not_run("assess"))
    record = _record(tmp_path, welfare_config)
    scores = tmp_path / "scores.json"
    text = json.dumps([good_score()]).replace(
        '"abstain": false', '"abstain": false, "abstain": true'
    )
    scores.write_text(text)
    result = runner.invoke(app, ["assess", str(record), "--scores", str(scores)])
    assert error_code(result.exception) == "input_file_invalid", result.output
    message = result.exception.message
    assert str(scores) in message and "'abstain' is given twice" in message
    assert f"photo {'ab' * 32}" in message


def test_the_same_key_in_different_objects_is_fine(tmp_path, welfare_config):
    record = _record(tmp_path, welfare_config)
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps([good_score(), good_score("cd" * 32)]))
    result = runner.invoke(app, ["assess", str(record), "--scores", str(scores)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["photos"]["usable"] == 2


# --- one photo twice -----------------------------------------------------------------------


def test_the_same_photo_twice_is_refused_not_counted_as_two(tmp_path, welfare_config, monkeypatch):
    monkeypatch.setattr("welfare.assess.assess", must_not_run("assess"))
    record = _record(tmp_path, welfare_config)
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps([good_score(), good_score("cd" * 32), good_score()]))
    result = runner.invoke(app, ["assess", str(record), "--scores", str(scores)])
    assert error_code(result.exception) == "input_file_invalid", result.output
    message = result.exception.message
    assert "1 of 3 photo score(s) cannot be used" in message
    assert f"entry 3 (photo {'ab' * 32}): the same photo as entry 1" in message


# --- a half-written or foreign model folder ------------------------------------------------


def _saved(tmp_path, trained, name="lgbm_tabular"):
    return trained[name].save(tmp_path / "models" / name)


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.99, 0.9999])
def test_a_truncated_lightgbm_head_is_one_clear_error_not_a_crash(
    tmp_path, trained, welfare_config, keep
):
    """LightGBM aborts (or segfaults) the whole process on a model text cut short, so the
    command runs in a process of its own: before the fix it died with no error line."""
    folder = _saved(tmp_path, trained)
    text = (folder / "asp.txt").read_text()
    (folder / "asp.txt").write_text(text[: int(len(text) * keep)])
    record = _record(tmp_path, welfare_config)
    code = "from shanyraq.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "welfare", "assess", str(record), "--model", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "error [model_mismatch]" in done.stderr and "asp.txt" in done.stderr
    assert "cut short" in done.stderr


def test_a_whole_lightgbm_head_still_loads(tmp_path, trained):
    from welfare.fusion import FusionModel

    folder = _saved(tmp_path, trained)
    assert FusionModel.load(folder).meta.version == trained["lgbm_tabular"].meta.version


def _edit(folder, **changes):
    meta = json.loads((folder / "fusion.json").read_text())
    meta.update(changes)
    (folder / "fusion.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"level_decoding": "mode"}, "level decoding 'mode'"),
        ({"temperature": "1.0"}, "'temperature' is not a positive number"),
        ({"temperature": None}, "'temperature' is not a positive number"),
        ({"platt": ["a", "b"]}, "'platt' is not a pair of numbers"),
        ({"levels": "123"}, "'levels' is not a list of whole numbers"),
        ({"features": "abc"}, "'features' is not a list of names"),
    ],
)
def test_a_fusion_json_this_version_cannot_use_is_one_clear_error(
    tmp_path, trained, changes, words
):
    from welfare.fusion import FusionModel

    folder = _saved(tmp_path, trained)
    _edit(folder, **changes)
    with pytest.raises(Exception) as refused:
        FusionModel.load(folder)
    assert error_code(refused.value) == "model_mismatch", repr(refused.value)
    assert words in refused.value.message and str(folder) in refused.value.message


def test_evaluate_given_one_model_s_folder_names_the_folder_to_give(tmp_path, trained, monkeypatch):
    monkeypatch.setattr("welfare.train.evaluate_saved", must_not_run("evaluate_saved"))
    folder = _saved(tmp_path, trained)
    args = ["evaluate", str(folder), "--out", str(tmp_path / "plots")]
    result = runner.invoke(app, [*args, "--markdown", str(tmp_path / "r.md")])
    assert error_code(result.exception) == "model_mismatch", result.output
    message = result.exception.message
    assert f"{folder} is one fusion model's folder" in message
    assert str(folder.parent) in message


# --- a table row with empty cells ----------------------------------------------------------


@pytest.mark.parametrize("field", ["family_id", "region", "settlement", "head_gender"])
@pytest.mark.parametrize("empty", [None, math.nan, "", "  "])
def test_an_empty_identity_cell_is_refused_not_read_as_text(welfare_config, field, empty):
    from welfare.schema import FamilyRecordError, record_from_row

    data = family(welfare_config)
    row = {**{k: v for k, v in data.items() if k != "criteria"}, **data["criteria"]}
    row[field] = empty
    with pytest.raises(FamilyRecordError) as refused:
        record_from_row(row, config=welfare_config)
    message = refused.value.message
    assert f"{field} is empty" in message
    assert "'nan'" not in message and "'None'" not in message


def test_a_table_giving_two_rows_one_family_id_is_refused(welfare_config):
    """Photos are matched by family_id: both rows would have been given both families' photos."""
    from tests.welfare.families_helpers import make_families
    from welfare.dataset import build_family_data
    from welfare.schema import FamilyRecordError
    from welfare.simulate import simulate_photos

    table, planned = make_families(6, seed=1, config=welfare_config)
    table.loc[4, "family_id"] = table.loc[1, "family_id"]
    with pytest.raises(FamilyRecordError) as refused:
        build_family_data(table, simulate_photos(planned, seed=2), config=welfare_config)
    assert f"family_id {table.loc[1, 'family_id']} is given to more than one row" in (
        refused.value.message
    )
