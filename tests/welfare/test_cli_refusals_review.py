"""`shanyraq welfare` refusals found in review (the CLI review, part 2: H1, H2, M6, L7, L8).

Before: `welfare assess --scores` counted rooms, grades and signs the taxonomy does not have,
probabilities outside 0..1 and NaN as usable photos (one junk score turned needs_review into
eligible), and empty heads gave a traceback; `welfare train` replaced the models in --out,
the served one included, without being asked, and saved models it called meaningless; `assess
--model` on a missing or parent folder said only "no fusion.json"; `evaluate --fairness-model`
with a misspelled name was refused only after every model had been evaluated.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.refusals import error_code, must_not_run
from tests.welfare.families_helpers import family
from tests.welfare.fusion_file_helpers import snapshot
from tests.welfare.score_helpers import good_score
from welfare.cli import app
from welfare.fusion import FusionModel

runner = CliRunner()


def assess_with(tmp_path: Path, scores: object, welfare_config, *extra: str):
    record = tmp_path / "family.json"
    record.write_text(json.dumps(family(welfare_config)))
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(scores))
    return runner.invoke(app, ["assess", str(record), "--scores", str(path), *extra]), path


def _set(head: str, key: str, value: object):
    return lambda s: s[head].__setitem__(key, value)


# What each junk score looked like in the review, and the words that must name its field.
JUNK = {
    "room outside the taxonomy": (_set("room", "castle", 1.0), "room has castle"),
    "probability above 1": (_set("room", "kitchen", 5.0), "room.kitchen = 5.0 is not a"),
    "negative probability": (_set("room", "kitchen", -1), "room.kitchen = -1 is not a"),
    "grade outside the taxonomy": (_set("condition", "9", 0.0), "condition has 9"),
    "NaN probability": (_set("condition", "1", math.nan), "condition.1 = nan is not a"),
    "null in a score that does not abstain": (
        _set("room", "kitchen", None),
        "room.kitchen = None is not a probability (a finite number from 0 to 1; null only in a "
        "score with abstain true)",
    ),
    "sign outside the taxonomy": (_set("signs", "gold_toilet", 0.5), "signs has gold_toilet"),
    "sign as text": (_set("signs", "damp_mould", "NaN"), "signs.damp_mould = 'NaN' is not a"),
    "sign missing": (lambda s: s["signs"].pop("damp_mould"), "signs lacks damp_mould"),
    "room not summing to 1": (
        lambda s: s["room"].update(dict.fromkeys(s["room"], 1.0)),
        "room probabilities sum to 6, not 1",
    ),
    "abstain as text": (lambda s: s.__setitem__("abstain", "no"), "abstain is not true or false"),
    "unknown quality status": (
        lambda s: s.__setitem__("flags", {"quality_status": "ok"}),
        "flags.quality_status is 'ok'",
    ),
}


@pytest.mark.parametrize("case", list(JUNK))
def test_assess_refuses_a_score_outside_the_taxonomy_naming_entry_and_field(
    tmp_path, monkeypatch, welfare_config, case
):
    monkeypatch.setattr("welfare.assess.assess", must_not_run("assess"))
    spoil, words = JUNK[case]
    junk = good_score("cd" * 32)
    spoil(junk)
    result, path = assess_with(tmp_path, [good_score(), junk], welfare_config)
    assert error_code(result.exception) == "input_file_invalid", result.output
    message = result.exception.message
    assert f"{path}: 1 of 2 photo score(s) cannot be used, so nothing was assessed" in message
    assert f"entry 2 (photo {'cd' * 32}): " in message and words in message
    assert "entry 1" not in message


def test_an_abstaining_score_with_no_numbers_is_read_as_an_abstained_photo(
    tmp_path, welfare_config
):
    """As `score --json` writes a photo the model gave NaN for: nulls, abstain true. It is
    read (the file is not refused) and counted as a photo that abstained, never as evidence."""
    blank = good_score("cd" * 32)
    for head in ("room", "condition", "signs"):
        blank[head] = dict.fromkeys(blank[head])
    blank.update(abstain=True, abstain_reasons=["low_confidence"])
    result, _ = assess_with(tmp_path, [good_score(), blank], welfare_config)
    assert result.exit_code == 0, result.output
    photos = json.loads(result.output)["photos"]
    assert (photos["total"], photos["usable"], photos["abstained"]) == (2, 1, 1)


def test_the_review_s_junk_score_is_refused_not_counted_as_a_usable_photo(tmp_path, welfare_config):
    junk = {
        "photo_sha256": "x",
        "model_version": "x",
        "room": {"castle": 1},
        "condition": {"9": 1},
        "signs": {"gold": "NaN"},
    }
    result, _ = assess_with(tmp_path, [junk], welfare_config)
    assert error_code(result.exception) == "input_file_invalid", result.output
    message = result.exception.message
    for words in ("room has castle", "condition has 9", "signs has gold", "signs.gold = 'NaN'"):
        assert words in message


def test_empty_heads_are_refused_with_a_clear_error_not_a_traceback(tmp_path, welfare_config):
    empty = {"photo_sha256": "x", "model_version": "x", "room": {}, "condition": {}, "signs": {}}
    result, _ = assess_with(tmp_path, [empty], welfare_config)
    assert error_code(result.exception) == "input_file_invalid", result.output
    message = result.exception.message
    assert "entry 1 (photo x): room needs one probability for each of kitchen" in message
    assert "condition needs one probability for each of 1, 2, 3, 4, 5" in message


def test_scores_as_score_json_writes_them_are_assessed_as_usable_photos(tmp_path, welfare_config):
    import numpy as np

    from vision.score import PhotoScore

    engine_like = PhotoScore.from_dict(good_score("ef" * 32)).to_dict(with_embedding=True)
    assert engine_like["embedding"] == [] and "flags" not in engine_like
    flagged = {**good_score(), "flags": {"quality_status": "warn", "reused": False}}
    flagged["embedding"] = [float(x) for x in np.linspace(0, 1, 4)]
    result, _ = assess_with(tmp_path, [engine_like, flagged], welfare_config)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["photos"]["usable"] == 2


# --- welfare train: replacing models, meaningless models ----------------------------------


@pytest.fixture
def served(tmp_path, trained):
    """Folder wf holding lgbm_tabular, as the default --out holds the model a service uses."""
    trained["lgbm_tabular"].save(tmp_path / "wf" / "lgbm_tabular")
    return tmp_path / "wf"


def test_train_refuses_to_replace_a_model_without_overwrite_before_any_work(
    served, tmp_path, monkeypatch
):
    monkeypatch.setattr("welfare.train.synthetic_family_data", must_not_run("the generator"))
    before = snapshot(tmp_path)
    version = FusionModel.load(served / "lgbm_tabular").meta.version
    args = ["train", "--out", str(served), "--model", "lgbm_tabular", "--n", "400"]
    result = runner.invoke(app, args)
    assert error_code(result.exception) == "output_exists", result.output
    message = result.exception.message
    assert f"{served / 'lgbm_tabular'} ({version}) already holds a fusion model" in message
    assert "pass --overwrite to replace it" in message
    assert snapshot(tmp_path) == before


@pytest.mark.usefixtures("hand_made_synthetic")
def test_train_replaces_a_model_when_asked_with_overwrite(served, welfare_config, monkeypatch):
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: welfare_config)
    old = FusionModel.load(served / "lgbm_tabular").meta.version
    args = ["train", "--out", str(served), "--model", "lgbm_tabular", "--n", "400"]
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    new = FusionModel.load(served / "lgbm_tabular").meta
    assert new.version != old and new.metrics["data"]["n"] == 400


def test_the_library_refuses_to_replace_too(served, welfare_config, monkeypatch):
    from welfare.train import train_models

    monkeypatch.setattr("welfare.train.synthetic_family_data", must_not_run("the generator"))
    with pytest.raises(Exception) as refused:
        train_models(served, n=400, seed=0, names=["lgbm_tabular"], config=welfare_config)
    assert error_code(refused.value) == "output_exists", refused.value


@pytest.mark.parametrize("n", ["5", "8", "99"])
def test_train_refuses_too_few_families_for_a_meaningful_model_unless_asked(
    tmp_path, monkeypatch, n
):
    monkeypatch.setattr("welfare.train.synthetic_family_data", must_not_run("the generator"))
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "wf"), "--n", n])
    assert error_code(result.exception) == "family_count_invalid", result.output
    message = result.exception.message
    assert f"{n} families are fewer than the 100 a recipe may ask for" in message
    assert "--keep-meaningless" in message and "--n 100 or more" in message
    assert not (tmp_path / "wf").exists()


@pytest.mark.usefixtures("hand_made_synthetic")
def test_train_on_a_handful_of_families_saves_when_asked(tmp_path):
    out = tmp_path / "wf"
    args = ["train", "--out", str(out), "--n", "8", "--model", "rf_tabular"]
    result = runner.invoke(app, [*args, "--keep-meaningless"])
    assert result.exit_code == 0, result.output
    assert FusionModel.load(out / "rf_tabular").meta.metrics["data"]["n"] == 8


@pytest.mark.usefixtures("hand_made_synthetic")
def test_a_model_that_learned_nothing_is_not_saved_unless_asked(tmp_path, cannot_split):
    from welfare.train import train_models

    out = tmp_path / "wf"
    names = ["lgbm_tabular", "rf_tabular"]
    with pytest.raises(Exception) as refused:
        train_models(out, n=120, seed=0, names=names, config=cannot_split)
    assert error_code(refused.value) == "model_meaningless", refused.value
    message = refused.value.message
    assert "lgbm_tabular (level and ASP heads) learned nothing" in message
    assert "rf_tabular" not in message and "so no model was saved" in message
    assert not out.exists() or not list(out.iterdir())  # neither model saved
    train_models(out, n=120, seed=0, names=names, config=cannot_split, keep_meaningless=True)
    assert sorted(p.name for p in out.iterdir()) == names


@pytest.mark.usefixtures("hand_made_synthetic")
def test_the_demo_builds_a_missing_fusion_model_and_leaves_a_present_one(
    tmp_path, monkeypatch, welfare_config
):
    """`shanyraq demo` trains the served model only when it is missing: no --overwrite."""
    from serving.demo_build import DemoPaths, ensure_models

    recipe = welfare_config.fusion.model_copy(update={"n_families": 120})
    config = welfare_config.model_copy(update={"fusion": recipe})
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: config)
    photo = tmp_path / "photo"
    photo.mkdir()
    (photo / "model.json").write_text("{}")  # present: the photo model is not built
    paths = DemoPaths(model_dir=photo, fusion_root=tmp_path / "fusion", fusion_model="rf_tabular")
    ensure_models(paths)
    built = FusionModel.load(paths.fusion_dir).meta
    assert built.metrics["data"]["n"] == 120
    monkeypatch.setattr("welfare.train.train_models", must_not_run("train_models"))
    ensure_models(paths)  # present: left as it is
    assert FusionModel.load(paths.fusion_dir).meta.version == built.version


# --- welfare assess --model: what a fusion model folder is --------------------------------


def test_assess_model_names_a_missing_folder_and_what_a_model_folder_is(tmp_path, welfare_config):
    record = tmp_path / "family.json"
    record.write_text(json.dumps(family(welfare_config)))
    result = runner.invoke(app, ["assess", str(record), "--model", str(tmp_path / "nope")])
    assert error_code(result.exception) == "model_mismatch", result.output
    message = result.exception.message
    assert f"{tmp_path / 'nope'}: no such folder" in message
    assert "a fusion model folder holds fusion.json and the model's head files" in message


def test_assess_model_on_the_parent_folder_names_the_models_in_it(
    served, tmp_path, trained, welfare_config
):
    trained["rf_tabular"].save(served / "rf_tabular")
    record = tmp_path / "family.json"
    record.write_text(json.dumps(family(welfare_config)))
    result = runner.invoke(app, ["assess", str(record), "--model", str(served)])
    assert error_code(result.exception) == "model_mismatch", result.output
    message = result.exception.message
    assert f"{served} holds fusion model folders rather than one model" in message
    assert f"({served / 'lgbm_tabular'}, {served / 'rf_tabular'})" in message


# --- welfare evaluate --fairness-model: refused before any work ---------------------------


def test_evaluate_refuses_an_unknown_fairness_model_before_any_work(
    served, tmp_path, trained, monkeypatch
):
    trained["rf_tabular"].save(served / "rf_tabular")
    monkeypatch.setattr("welfare.train.synthetic_family_data", must_not_run("the generator"))
    monkeypatch.setattr("welfare.train.evaluate_models", must_not_run("the evaluation"))
    out = ["--out", str(tmp_path / "out"), "--markdown", str(tmp_path / "r.md")]
    result = runner.invoke(app, ["evaluate", str(served), *out, "--fairness-model", "lgbm_tabulr"])
    assert error_code(result.exception) == "fairness_model_missing", result.output
    message = result.exception.message
    assert "no model 'lgbm_tabulr'" in message and "lgbm_tabular, rf_tabular" in message
    assert not (tmp_path / "r.md").exists()
