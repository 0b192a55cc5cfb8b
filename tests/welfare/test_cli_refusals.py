"""`shanyraq welfare` refuses bad numbers, broken model folders and unwritable outputs up front.

Each refusal is one domain error (a stable `code`) raised before any family is generated, any
model trained or any file written; nothing here needs the project's generator or a GPU.
"""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from tests.refusals import error_code, must_not_run
from welfare.cli import app

runner = CliRunner()


# --- welfare train --n -------------------------------------------------------------------


@pytest.mark.parametrize("n", ["0", "-5"])
def test_train_refuses_n_below_one_instead_of_training_the_recipe(tmp_path, monkeypatch, n):
    monkeypatch.setattr("welfare.train.train_models", must_not_run("train_models"))
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "wf"), "--n", n])
    assert result.exit_code == 2, result.output
    assert "--n" in result.output
    assert not (tmp_path / "wf").exists()


@pytest.mark.usefixtures("hand_made_synthetic")
def test_train_refuses_too_few_families_and_names_the_smallest(tmp_path, monkeypatch):
    monkeypatch.setattr("welfare.train.synthetic_family_data", must_not_run("the generator"))
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "wf"), "--n", "3"])
    assert error_code(result.exception) == "family_count_invalid", result.output
    message = result.exception.message
    assert "3 families are too few" in message and "give at least 4" in message
    assert not (tmp_path / "wf").exists()


def test_the_minimum_is_what_the_learners_can_be_fitted_on(family_data, welfare_config):
    """Measured: LightGBM refuses a bag of int(0.8 * 1) = 0 families, a forest fits one; one
    family more calibrates. Fewer than the minimum is a clear error, the minimum trains."""
    from welfare.fusion import list_models, min_training_families
    from welfare.train import fit_on

    recipe = welfare_config.fusion
    assert min_training_families(["rf_tabular"], recipe) == 2
    assert min_training_families(["lgbm_tabular"], recipe) == 3
    assert min_training_families(list_models(), recipe) == 3
    for name in list_models():
        need = min_training_families([name], recipe)
        fitted = fit_on(family_data.subset(range(need)), name, config=welfare_config, seed=0,
                        source={})  # fmt: skip
        assert fitted.meta.n_calibration >= 1 and fitted.meta.n_train >= 1
        with pytest.raises(Exception) as refused:
            fit_on(family_data.subset(range(need - 1)), name, config=welfare_config, seed=0,
                   source={})  # fmt: skip
        assert error_code(refused.value) == "family_count_invalid", refused.value
        assert f"needs at least {need}" in refused.value.message


@pytest.mark.usefixtures("hand_made_synthetic")
def test_train_on_a_handful_of_families_warns_that_the_model_is_meaningless(
    tmp_path, welfare_config, caplog
):
    from welfare.train import train_models

    with caplog.at_level(logging.WARNING):
        models = train_models(
            tmp_path / "wf", n=8, seed=0, names=["lgbm_tabular", "rf_tabular"],
            config=welfare_config, keep_meaningless=True,
        )  # fmt: skip
    assert set(models) == {"lgbm_tabular", "rf_tabular"}
    text = caplog.text
    assert "training on 8 families, fewer than the 100" in text and "meaningless" in text
    # LightGBM cannot make one split on 5 families: every family gets the same answer.
    assert "lgbm_tabular learned nothing from 5 families" in text
    assert "rf_tabular learned nothing" not in text

    caplog.clear()  # and on enough families, not a word (a new folder: wf's models are on 8)
    with caplog.at_level(logging.WARNING):
        train_models(
            tmp_path / "wf400", n=400, seed=0, names=["lgbm_tabular"], config=welfare_config
        )
    assert "meaningless" not in caplog.text


def test_train_refuses_an_out_that_is_a_file_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr("welfare.train.train_models", must_not_run("train_models"))
    out = tmp_path / "afile"
    out.write_text("keep me")
    result = runner.invoke(app, ["train", "--out", str(out), "--model", "rf_tabular"])
    assert error_code(result.exception) == "input_file_invalid", result.output
    assert "is not a folder (it is a file)" in result.exception.message
    assert out.read_text() == "keep me"


# --- welfare evaluate-real / train-engine ------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("evaluate-real", ["--families", "-2"]),
        ("evaluate-real", ["--families", "0"]),
        ("evaluate-real", ["--size", "0"]),
        ("evaluate-real", ["--n-boot", "0"]),
        ("train-engine", ["--families", "-2"]),
        ("train-engine", ["--families", "0"]),
        ("train-engine", ["--size", "8"]),
    ],
)
def test_engine_studies_refuse_numbers_below_their_range(tmp_path, monkeypatch, command, args):
    """-2 families used to measure all but two, 0 failed deep in scikit-learn or LightGBM."""
    monkeypatch.setattr("welfare.real_evaluation.measure_real_scores", must_not_run("the study"))
    monkeypatch.setattr("welfare.real_training.train_on_engine_scores", must_not_run("the study"))
    result = runner.invoke(app, [command, "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert args[0] in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("asked", "instead"),
    [(0, "1 to 10"), (-2, "1 to 10"), (11, "10 or fewer")],
)
def test_held_out_families_are_refused_beyond_the_test_split(welfare_config, asked, instead):
    """40 families hold 10 test families: -2 used to measure 8 of them, 11 all 10, 0 failed
    deep in scikit-learn."""
    from welfare.real_families import held_out_families

    with pytest.raises(Exception) as refused:
        held_out_families(asked, n=40, seed=0, config=welfare_config)
    assert error_code(refused.value) == "family_count_invalid", refused.value
    assert "test split of the data the models were trained on (40 families, seed 0) holds" in (
        refused.value.message
    )
    assert refused.value.message.endswith(f" 10: pass --families {instead}")


@pytest.mark.parametrize(
    ("asked", "instead"),
    [(0, "1 to 30"), (-2, "1 to 30"), (31, "30 or fewer")],
)
def test_training_families_are_refused_beyond_the_training_split(welfare_config, asked, instead):
    from welfare.real_training import training_families

    with pytest.raises(Exception) as refused:
        training_families(asked, n=40, seed=0, subset_seed=0, config=welfare_config)
    assert error_code(refused.value) == "family_count_invalid", refused.value
    assert "training split of data (40 families, seed 0) holds" in refused.value.message
    assert f" 30: pass --families {instead}, or leave --families out" in refused.value.message


def test_train_engine_refuses_too_few_families_before_scoring(tmp_path, welfare_config):
    from welfare.real_training import train_on_engine_scores

    with pytest.raises(Exception) as refused:
        train_on_engine_scores(
            tmp_path / "te", vision_dir=tmp_path / "no-model", n_families=2, subset_seed=0,
            size=64, cache_dir=None, config=welfare_config,
        )  # fmt: skip
    assert error_code(refused.value) == "family_count_invalid", refused.value
    assert "lgbm_fused cannot be trained on 2 families" in refused.value.message


# --- welfare ceiling ---------------------------------------------------------------------


def test_ceiling_refuses_when_no_size_fits_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("welfare.ceiling.synthetic_family_data", must_not_run("the generator"))
    out = tmp_path / "wc"
    result = runner.invoke(app, ["ceiling", "--n", "200", "--size", "5000", "--out", str(out)])
    assert error_code(result.exception) == "family_count_invalid", result.output
    assert "200 families leave 150 for training" in result.exception.message
    assert not (out / "ceiling.json").exists()


def test_ceiling_refuses_a_size_too_small_to_fit(tmp_path, monkeypatch):
    monkeypatch.setattr("welfare.ceiling.synthetic_family_data", must_not_run("the generator"))
    result = runner.invoke(
        app, ["ceiling", "--n", "200", "--size", "2", "--size", "100", "--out", str(tmp_path)]
    )
    assert error_code(result.exception) == "family_count_invalid", result.output
    assert "cannot be trained on 2 families" in result.exception.message
    assert not (tmp_path / "ceiling.json").exists()


@pytest.mark.parametrize("args", [["--n", "0"], ["--n", "-1"], ["--size", "0"]])
def test_ceiling_refuses_numbers_below_one(tmp_path, monkeypatch, args):
    monkeypatch.setattr("welfare.ceiling.measure_ceiling", must_not_run("measure_ceiling"))
    result = runner.invoke(app, ["ceiling", "--out", str(tmp_path / "wc"), *args])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "wc").exists()


def test_ceiling_keeps_the_sizes_that_fit(welfare_config):
    """A size larger than the split is still skipped when another one fits."""
    from welfare.ceiling import check_sizes

    check_sizes([100, 5000], n=200, name="lgbm_fused", config=welfare_config)  # no error


# --- FusionModel.load on a broken folder -------------------------------------------------


def _saved(tmp_path, trained, name="lgbm_tabular"):
    return trained[name].save(tmp_path / "models" / name)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda f: (f / "fusion.json").write_text("{\n"), "not valid JSON at line 2"),
        (lambda f: (f / "fusion.json").write_text("[1, 2]"), "not a fusion model's metadata"),
        (lambda f: (f / "fusion.json").write_bytes(b"\xff\xfe{"), "is not UTF-8 text"),
        (lambda f: _edit(f, drop="features"), "key(s) features missing"),
        (lambda f: _edit(f, extra="colour"), "unknown key(s) colour"),
        (lambda f: _edit(f, learner="svm"), "learner 'svm'"),
        (lambda f: _edit(f, platt=3), "'platt' is not a pair"),
        (lambda f: (f / "level.json").unlink(), "level.json is missing"),
        (lambda f: (f / "asp.txt").write_text("not a booster"), "cannot be read as a LightGBMHead"),
        (lambda f: (f / "level.json").write_text('{"x": 1}'), "cannot be read as a Cumulative"),
    ],
)
def test_a_broken_model_folder_is_one_clear_error(tmp_path, trained, damage, words):
    from welfare.fusion import FusionModel

    folder = _saved(tmp_path, trained)
    damage(folder)
    with pytest.raises(Exception) as refused:
        FusionModel.load(folder)
    assert error_code(refused.value) == "model_mismatch", repr(refused.value)
    assert words in refused.value.message and str(folder) in refused.value.message


def test_a_corrupt_forest_head_is_one_clear_error(tmp_path, trained):
    from welfare.fusion import FusionModel

    folder = _saved(tmp_path, trained, "rf_tabular")
    (folder / "asp.joblib").write_bytes(b"junk")
    with pytest.raises(Exception) as refused:
        FusionModel.load(folder)
    assert error_code(refused.value) == "model_mismatch", repr(refused.value)
    assert "asp.joblib: cannot be read as a ForestHead" in refused.value.message


def test_evaluate_names_a_broken_model_folder(tmp_path, trained):
    folder = _saved(tmp_path, trained)
    _edit(folder, drop="features")
    args = ["evaluate", str(folder.parent), "--out", str(tmp_path / "plots")]
    result = runner.invoke(app, [*args, "--markdown", str(tmp_path / "r.md")])
    assert error_code(result.exception) == "model_mismatch", result.output
    assert not (tmp_path / "r.md").exists()


def _edit(folder, *, drop=None, extra=None, **changes):
    meta = json.loads((folder / "fusion.json").read_text())
    if drop:
        meta.pop(drop)
    if extra:
        meta[extra] = "red"
    meta.update(changes)
    (folder / "fusion.json").write_text(json.dumps(meta))


# --- welfare evaluate: outputs checked first, written as a pair ----------------------------


@pytest.mark.parametrize("which", ["markdown-folder", "out-file", "parent-file"])
def test_evaluate_checks_its_outputs_before_measuring(tmp_path, monkeypatch, which):
    monkeypatch.setattr("welfare.train.evaluate_saved", must_not_run("the evaluation"))
    out, page = tmp_path / "plots", tmp_path / "report.md"
    if which == "markdown-folder":
        page.mkdir()
    elif which == "out-file":
        out.write_text("a file")
    else:
        (tmp_path / "docs").write_text("a file")
        page = tmp_path / "docs" / "report.md"
    args = ["evaluate", str(tmp_path / "models"), "--out", str(out), "--markdown", str(page)]
    result = runner.invoke(app, [*args, "--n-boot", "5"])
    assert error_code(result.exception) == "input_file_invalid", result.output
    assert not (out.is_dir() and any(out.iterdir()))


def test_evaluate_refuses_n_boot_below_one(tmp_path, monkeypatch):
    monkeypatch.setattr("welfare.train.evaluate_saved", must_not_run("the evaluation"))
    result = runner.invoke(app, ["evaluate", str(tmp_path), "--n-boot", "0"])
    assert result.exit_code == 2 and "--n-boot" in result.output


def _write_report(result, out, page, config):
    from welfare.report import write_report

    context = {"command": "test", "default_model": result["default_model"], "data_note": "note",
               "notes": [], "n_families": 900, "seed": 3, "recipe": None}  # fmt: skip
    return write_report(result, out_dir=out, markdown=page, context=context,
                        levels=config.level_values, targets=config.targets)  # fmt: skip


def test_a_failed_page_leaves_the_old_figures_and_page(tmp_path, evaluated, welfare_config):
    """The figures and the page are one pair: when the page cannot be written, neither the
    figures nor the page change, and no temporary file is left behind."""
    out = tmp_path / "plots"
    out.mkdir()
    (out / "metrics.json").write_text("old metrics")
    (out / "accuracy.png").write_bytes(b"old plot")
    page = tmp_path / "report.md"
    page.mkdir()  # the page cannot be written; the CLI refuses this before measuring
    with pytest.raises(OSError):
        _write_report(evaluated, out, page, welfare_config)
    assert (out / "metrics.json").read_text() == "old metrics"
    assert (out / "accuracy.png").read_bytes() == b"old plot"
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "metrics.json"]
    assert set(tmp_path.iterdir()) == {out, page}

    page.rmdir()  # once it can be, both are written, the page linking the figures in place
    _write_report(evaluated, out, page, welfare_config)
    assert "](plots/accuracy.png)" in page.read_text()
    assert (out / "accuracy.png").stat().st_size > 1000
    assert json.loads((out / "metrics.json").read_text())["default_model"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_failure_while_rendering_the_page_leaves_the_old_pair(
    tmp_path, evaluated, welfare_config, monkeypatch
):
    from welfare import report

    out = tmp_path / "plots"
    out.mkdir()
    (out / "metrics.json").write_text("old metrics")
    page = tmp_path / "report.md"
    page.write_text("old page")

    def broken(*args, **kwargs):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(report, "render_markdown", broken)
    with pytest.raises(RuntimeError):
        _write_report(evaluated, out, page, welfare_config)
    assert (out / "metrics.json").read_text() == "old metrics"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert page.read_text() == "old page"
