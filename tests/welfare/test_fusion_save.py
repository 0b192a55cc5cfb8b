"""A fusion model is saved whole or not at all, and only where it may replace what is there.

Before, `FusionModel.save` wrote its files one by one into the folder (a failure left a head
of the new model beside the old fusion.json; a model of another learner left the old ASP head
behind), wrote into any folder it was given, and `welfare train` saved each model as soon as
it was trained, so a failure part-way left models trained on different families side by side.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.refusals import error_code, must_not_run
from tests.welfare.fusion_file_helpers import snapshot
from welfare.cli import app
from welfare.fusion import FusionModel

runner = CliRunner()


class FullDisk:
    """A head whose file gets half-way before the disk is full."""

    def save(self, path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_model_of_another_learner_replaces_the_folder_whole(trained, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()  # an empty folder takes a model
    trained["rf_tabular"].save(folder)
    assert {"asp.joblib", "level.joblib"} <= {p.name for p in folder.iterdir()}
    trained["lgbm_tabular"].save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["asp.txt", "fusion.json", "level.json"]
    assert FusionModel.load(folder).meta.version == trained["lgbm_tabular"].meta.version
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left
    new = trained["lgbm_tabular"].save(tmp_path / "new" / "deeper")  # so does a new path
    assert FusionModel.load(new).meta.version == trained["lgbm_tabular"].meta.version


def test_a_save_that_fails_half_way_leaves_the_old_model_whole(trained, tmp_path):
    folder = tmp_path / "model"
    trained["rf_tabular"].save(folder)
    before = snapshot(tmp_path)
    new = trained["lgbm_tabular"]
    broken = FusionModel(new.meta, new.level_head, FullDisk())  # type: ignore[arg-type]
    with pytest.raises(OSError, match="No space"):
        broken.save(folder)
    assert snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert FusionModel.load(folder).meta.version == trained["rf_tabular"].meta.version


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ({"notes.txt": "keep me"}, "it has no fusion.json"),
        ({"fusion.json": "{}", "level.txt": "x", "notes.txt": "keep me"}, "also holds notes.txt"),
    ],
)
def test_a_folder_that_is_not_a_fusion_model_is_refused_and_kept(trained, tmp_path, entries, why):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, text in entries.items():
        (folder / name).write_text(text)
    before = snapshot(tmp_path)
    with pytest.raises(Exception) as refused:
        trained["lgbm_tabular"].save(folder)
    assert error_code(refused.value) == "output_exists", refused.value
    message = refused.value.message
    assert str(folder) in message and why in message and "move it away" in message
    assert snapshot(tmp_path) == before


def test_a_file_or_a_link_is_refused_and_kept(trained, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    link = tmp_path / "link"
    trained["rf_tabular"].save(tmp_path / "real")
    link.symlink_to(tmp_path / "real")
    before = snapshot(tmp_path)
    for path, what in ((afile, "(it is a file)"), (link, "(it is a symbolic link)")):
        with pytest.raises(Exception) as refused:
            trained["lgbm_tabular"].save(path)
        assert error_code(refused.value) == "output_exists", refused.value
        assert f"{path} exists and is not a fusion model folder {what}" in refused.value.message
    assert snapshot(tmp_path) == before and link.is_symlink()


# --- welfare train / train-engine ----------------------------------------------------------


@pytest.mark.usefixtures("hand_made_synthetic")
def test_a_training_that_fails_part_way_keeps_every_old_model(
    tmp_path, monkeypatch, welfare_config
):
    from welfare import train as welfare_train

    out = tmp_path / "wf"
    names = ["lgbm_tabular", "rf_tabular"]
    welfare_train.train_models(
        out, n=40, seed=0, names=names, config=welfare_config, keep_meaningless=True
    )
    before = snapshot(tmp_path)
    fit_on = welfare_train.fit_on

    def second_fails(data, name, **kwargs):
        if name == names[1]:
            raise MemoryError("out of memory while fitting the second model")
        return fit_on(data, name, **kwargs)

    monkeypatch.setattr(welfare_train, "fit_on", second_fails)
    with pytest.raises(MemoryError):
        welfare_train.train_models(
            out, n=60, seed=0, names=names, config=welfare_config, overwrite=True,
            keep_meaningless=True,
        )  # fmt: skip
    assert snapshot(tmp_path) == before  # not lgbm_tabular on 60 families beside rf on 40
    models, (n, _) = welfare_train.load_trained_together(out)
    assert set(models) == set(names) and n == 40


def test_welfare_train_refuses_a_model_folder_it_may_not_replace_before_training(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("welfare.train.synthetic_family_data", must_not_run("the generator"))
    mine = tmp_path / "wf" / "rf_tabular"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "wf"), "--n", "400"])
    assert error_code(result.exception) == "output_exists", result.output
    assert f"{mine} exists and is not a fusion model folder" in result.exception.message
    assert snapshot(tmp_path) == {"wf/rf_tabular/notes.txt": b"keep me"}


def test_welfare_train_engine_refuses_a_folder_it_may_not_replace_before_scoring(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("welfare.real_training.train_on_engine_scores", must_not_run("the study"))
    out = tmp_path / "engine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["train-engine", "--out", str(out)])
    assert error_code(result.exception) == "output_exists", result.output
    assert f"{out} exists and is not a fusion model folder" in result.exception.message
    assert (out / "notes.txt").read_text() == "keep me"


def test_welfare_train_engine_replaces_a_model_only_with_overwrite(tmp_path, monkeypatch):
    """A model already in --out (a 30-minute study's) is not replaced unless asked."""
    saved = tmp_path / "engine"
    runner.invoke(app, ["train", "--out", str(tmp_path / "wf"), "--n", "400",
                        "--model", "lgbm_fused"])  # fmt: skip
    (tmp_path / "wf" / "lgbm_fused").rename(saved)
    before = snapshot(tmp_path)
    monkeypatch.setattr("welfare.real_training.train_on_engine_scores", must_not_run("the study"))
    result = runner.invoke(app, ["train-engine", "--out", str(saved)])
    assert error_code(result.exception) == "output_exists", result.output
    assert "--overwrite" in result.exception.message and str(saved) in result.exception.message
    assert snapshot(tmp_path) == before
    asked = runner.invoke(app, ["train-engine", "--out", str(saved), "--overwrite"])
    assert "the study" in str(asked.exception)  # past the refusal, to the (stubbed) study
