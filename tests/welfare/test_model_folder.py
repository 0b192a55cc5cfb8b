"""A folder of fusion models holds one set trained on the same data, swapped in all or none.

Before, `welfare train --model X --out D` replaced D/X only, leaving D's other models on their
older data, a mix `welfare evaluate` then refused; and `save_models` renamed its folders into
place one by one, so a rename that failed after the first left a half-new set (and a failed
put-back deleted the old model with the staging folder).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.refusals import error_code, must_not_run
from tests.welfare.fusion_file_helpers import snapshot
from welfare.cli import app
from welfare.fusion import FusionModel
from welfare.model_folder import save_models

runner = CliRunner()
PAIR = ["lgbm_tabular", "rf_tabular"]


@pytest.fixture
def trained_on_40(tmp_path, welfare_config):
    """Folder wf holding lgbm_tabular and rf_tabular, trained on 40 hand-made families, seed 0."""
    from welfare.train import train_models

    train_models(
        tmp_path / "wf", n=40, seed=0, names=PAIR, config=welfare_config, keep_meaningless=True
    )
    return tmp_path / "wf"


# --- welfare train --model X: the other models in --out were trained on the same data -----


@pytest.mark.usefixtures("hand_made_synthetic")
@pytest.mark.parametrize(("n", "seed"), [(60, 0), (40, 1)])
def test_training_one_model_on_other_data_is_refused_before_training(
    trained_on_40, tmp_path, monkeypatch, n, seed
):
    monkeypatch.setattr("welfare.train.fit_on", must_not_run("training"))
    before = snapshot(tmp_path)
    args = ["train", "--out", str(trained_on_40), "--model", "lgbm_tabular", "--overwrite"]
    args += ["--keep-meaningless"]
    result = runner.invoke(app, [*args, "--n", str(n), "--seed", str(seed)])
    assert error_code(result.exception) == "training_data_mixed", result.output
    message = result.exception.message
    assert f"{trained_on_40} also holds rf_tabular, trained on other data" in message
    assert "leave --model out to train all" in message and "new folder (--out)" in message
    assert snapshot(tmp_path) == before  # nothing trained, nothing written


@pytest.mark.usefixtures("hand_made_synthetic")
def test_training_one_model_on_the_same_data_keeps_the_set_evaluable(trained_on_40, welfare_config):
    from welfare.train import evaluate_saved, load_trained_together, train_models

    rf_before = snapshot(trained_on_40 / "rf_tabular")
    old = FusionModel.load(trained_on_40 / "lgbm_tabular").meta.version
    fusion = welfare_config.fusion  # another recipe: the same data, another version
    lightgbm = fusion.lightgbm.model_copy(update={"n_estimators": 30})
    recipe = fusion.model_copy(update={"lightgbm": lightgbm, "default_model": PAIR[0]})
    config = welfare_config.model_copy(update={"fusion": recipe})
    train_models(trained_on_40, n=40, seed=0, names=["lgbm_tabular"], config=config,
                 overwrite=True, keep_meaningless=True)  # fmt: skip
    assert FusionModel.load(trained_on_40 / "lgbm_tabular").meta.version != old  # retrained
    assert snapshot(trained_on_40 / "rf_tabular") == rf_before
    models, source = load_trained_together(trained_on_40)
    assert set(models) == set(PAIR) and source == (40, 0)
    result, _ = evaluate_saved(trained_on_40, n_boot=2, config=config)  # no mixed-data refusal
    assert set(result["models"]) == set(PAIR)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_training_every_model_in_the_folder_on_other_data_is_allowed(trained_on_40, welfare_config):
    from welfare.train import load_trained_together, train_models

    train_models(trained_on_40, n=60, seed=0, names=PAIR, config=welfare_config,
                 overwrite=True, keep_meaningless=True)  # fmt: skip
    models, source = load_trained_together(trained_on_40)
    assert set(models) == set(PAIR) and source == (60, 0)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_a_broken_model_beside_the_one_trained_is_refused_before_training(
    trained_on_40, monkeypatch
):
    monkeypatch.setattr("welfare.train.fit_on", must_not_run("training"))
    (trained_on_40 / "rf_tabular" / "fusion.json").write_text("{", encoding="utf-8")
    args = ["train", "--out", str(trained_on_40), "--model", "lgbm_tabular", "--n", "40"]
    result = runner.invoke(app, [*args, "--overwrite", "--keep-meaningless"])
    assert error_code(result.exception) == "model_mismatch", result.output
    assert "rf_tabular/fusion.json: not valid JSON" in result.exception.message


# --- save_models: the folders are swapped in all or none ---------------------------------


def fail_rename_into(monkeypatch, folder: Path, *, times: int = 1) -> None:
    """The first `times` renames of anything to `folder` fail (a moved-in model, then a
    put-back), as a full or failing disk would make them."""
    rename = os.rename
    left = [times]

    def failing(src, dst, *args, **kwargs):
        if Path(dst) == folder and left[0] > 0:
            left[0] -= 1
            raise OSError(errno.EIO, "Input/output error", os.fspath(dst))
        return rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", failing)


@pytest.mark.parametrize("failing", ["lgbm_fused", "lgbm_tabular", "rf_tabular"])
def test_a_rename_that_fails_puts_every_swapped_folder_back(
    trained, tmp_path, monkeypatch, failing
):
    out = tmp_path / "wf"
    save_models({out / name: trained[name] for name in PAIR})
    before = snapshot(tmp_path)
    # New models for both old folders and a folder that is new (lgbm_fused).
    new = {"lgbm_tabular": "lgbm_fused", "rf_tabular": "rf_fused", "lgbm_fused": "lgbm_tabular"}
    fail_rename_into(monkeypatch, out / failing)
    with pytest.raises(OSError, match="Input/output error"):
        save_models({out / folder: trained[model] for folder, model in new.items()})
    assert snapshot(tmp_path) == before  # exactly the old set, and no staging folder behind
    assert sorted(p.name for p in out.iterdir()) == PAIR
    for name in PAIR:
        assert FusionModel.load(out / name).meta.version == trained[name].meta.version


@pytest.mark.parametrize("failing", ["one", "two"])
def test_folders_in_different_folders_are_swapped_back_together(
    trained, tmp_path, monkeypatch, failing
):
    folders = {tmp_path / "one" / "m": "lgbm_tabular", tmp_path / "two" / "m": "rf_tabular"}
    save_models({folder: trained[name] for folder, name in folders.items()})
    before = snapshot(tmp_path)
    fail_rename_into(monkeypatch, tmp_path / failing / "m")
    with pytest.raises(OSError, match="Input/output error"):
        save_models({folder: trained["lgbm_fused"] for folder in folders})
    assert snapshot(tmp_path) == before


def test_an_old_model_that_cannot_be_put_back_is_kept(trained, tmp_path, monkeypatch, caplog):
    out = tmp_path / "wf"
    save_models({out / name: trained[name] for name in PAIR})
    old = {name: snapshot(out / name) for name in PAIR}
    fail_rename_into(monkeypatch, out / "rf_tabular", times=2)  # the move-in, then the put-back
    with caplog.at_level(logging.ERROR), pytest.raises(OSError, match="Input/output error"):
        save_models({out / name: trained["lgbm_fused"] for name in PAIR})
    for name in PAIR:  # in its place or in the staging folder, but not deleted
        places = [out / name, *out.glob(f"*.partial-*/old/{name}")]
        assert [p for p in places if p.is_dir() and snapshot(p) == old[name]], name
    (work,) = out.glob("*.partial-*")
    assert f"the old ones are kept in {work}" in caplog.text
