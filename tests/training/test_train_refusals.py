"""`train`, `evaluate` and `export` refuse bad input before they touch anything, and a build
that fails after training leaves the run's previous artifact and report as they were."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from shanyraq.errors import (
    ConfigError,
    ImageError,
    InputFileError,
    ManifestError,
    ModelMismatchError,
)
from shanyraq.manifest import ManifestRow, read_manifest, write_manifest
from tests.training.run_folder_helpers import OLD_RUN, snapshot
from training.build import (
    ARTIFACT_DIR,
    EVALUATION_DIR,
    STAGING_DIR,
    build_artifact,
    export_run,
    read_run,
)
from training.dataset_splits import load_splits
from training.evaluate import evaluate_artifact
from training.recipe import DataSection
from training.resume import NothingToResumeError
from training.run_folder import BEST, LAST, RUN_JSON
from training.train import pick_device, train

from .toy_manifest_helpers import write_toy_manifest


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run"
    for name, text in OLD_RUN.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    return run


@pytest.fixture
def data(tmp_path, taxonomy) -> Path:
    """A manifest of the test's own toy photos (each test may delete or damage them)."""
    return write_toy_manifest(tmp_path / "data", taxonomy)


def _edited(manifest: Path, out: Path, edit) -> Path:
    """A copy of `manifest` (absolute photo paths) with `edit(row) -> row` applied."""
    read = read_manifest(manifest)
    rows = [edit(replace(r, path=str(r.resolve(read.root)))) for r in read.rows]
    return write_manifest(out, rows)


def _first(manifest: Path, split: str) -> ManifestRow:
    read = read_manifest(manifest)
    return replace(read.by_split(split)[0], path=str(read.by_split(split)[0].resolve(read.root)))


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_missing_photo_is_refused_before_the_old_run_is_touched(
    data, old_run, tiny_recipe, split
):
    # Before, a missing val photo deleted metrics.csv and then ended in a traceback; a missing
    # test photo was found after the artifact had been replaced by one without metrics.
    missing = Path(_first(data, split).path)
    missing.unlink()
    before = snapshot(old_run)
    with pytest.raises(ManifestError) as caught:
        train(tiny_recipe(data, old_run, epochs=1))
    message = caught.value.message
    assert "[missing_file]" in message and missing.name in message and "data check" in message
    assert snapshot(old_run) == before


def _second_of_fam01(edit):
    return lambda r: edit(r) if r.family_id == "fam01" and r.path.endswith("_1.jpg") else r


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _second_of_fam01(lambda r: replace(r, room="garage")),
            "line 7: room 'garage' is not in the taxonomy",
        ),
        (
            _second_of_fam01(lambda r: replace(r, room="kitchen", signs=frozenset({"fire"}))),
            "line 7: sign 'fire' is not in the taxonomy",
        ),
        (
            _second_of_fam01(lambda r: replace(r, room="kitchen", condition=9)),
            "line 7: condition 9 is outside 1..5",
        ),
        (
            _second_of_fam01(lambda r: replace(r, extra={"style": "modern"})),
            "line 7: style 'modern' is not a whole number",
        ),
        # A whole family in a split of its own was left out of training without a word.
        (
            lambda r: replace(r, split="holdout") if r.family_id == "fam01" else r,
            "line 6: split 'holdout' is not one of train, val, test",
        ),
    ],
    ids=["room", "sign", "condition", "style", "split"],
)
def test_a_bad_row_is_refused_by_line_before_a_run_folder_is_made(
    toy_manifest, tmp_path, tiny_recipe, edit, expected
):
    # Before: a ValueError or IndexError in the middle of training (after an empty run
    # folder was made), or the rows silently left out.
    manifest = _edited(toy_manifest, tmp_path / "bad" / "manifest.csv", edit)
    run = tmp_path / "run"
    with pytest.raises(ManifestError) as caught:
        train(tiny_recipe(manifest, run, epochs=1))
    assert expected in caught.value.message  # the header is line 1, fam00's 4 photos 2-5
    assert not run.exists()


def test_files_are_required_for_the_splits_read_only(data, taxonomy):
    # A recipe that trains on a stream of rendered photos never reads the train split's files.
    Path(_first(data, "train").path).unlink()
    with pytest.raises(ManifestError, match=r"\[missing_file\]"):
        load_splits(DataSection(manifest=data))
    stream = {"seed": 7, "photos_per_epoch": 8, "size": 48}
    splits = load_splits(DataSection(manifest=data, stream=stream))
    assert splits.val and splits.test


def test_a_held_out_style_no_photo_has_is_refused(toy_manifest):
    with pytest.raises(ManifestError) as caught:
        load_splits(DataSection(manifest=toy_manifest, held_out_styles=[1, 7]))
    message = caught.value.message
    assert "no photo has style 7" in message and "the manifest's styles are 0, 1, 2" in message


def test_resume_without_a_checkpoint_is_refused_and_the_log_kept(
    toy_manifest, old_run, tmp_path, tiny_recipe
):
    # Before, it trained from scratch and appended epochs 1, 2 again to the old metrics.csv.
    (old_run / LAST).unlink()
    before = snapshot(old_run)
    with pytest.raises(NothingToResumeError) as caught:
        train(tiny_recipe(toy_manifest, old_run), resume=True)
    assert caught.value.code == "nothing_to_resume"
    assert (
        "without --resume" in caught.value.message and str(old_run / LAST) in caught.value.message
    )
    assert snapshot(old_run) == before
    fresh = tmp_path / "fresh"
    with pytest.raises(NothingToResumeError):
        train(tiny_recipe(toy_manifest, fresh), resume=True)
    assert not fresh.exists()


@pytest.mark.parametrize("content", ["junk", "list"])
def test_a_damaged_last_checkpoint_is_refused(toy_manifest, old_run, tiny_recipe, content):
    if content == "list":
        torch.save([1, 2, 3], old_run / LAST)  # a readable torch file, not a checkpoint
    before = snapshot(old_run)
    with pytest.raises(ModelMismatchError) as caught:
        train(tiny_recipe(toy_manifest, old_run), resume=True)
    message = caught.value.message
    assert str(old_run / LAST) in message and "without --resume" in message
    assert "\n" not in message
    assert snapshot(old_run) == before


def test_an_explicit_cuda_device_without_a_gpu_is_refused(
    toy_manifest, tmp_path, tiny_recipe, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = tiny_recipe(toy_manifest, tmp_path / "run").model_copy(update={"device": "cuda"})
    with pytest.raises(ConfigError, match=r"device 'cuda'.*no CUDA GPU"):
        train(config)
    assert not (tmp_path / "run").exists()
    assert pick_device("auto") == torch.device("cpu")  # auto may fall back


def test_an_output_dir_that_is_a_file_is_refused(toy_manifest, tmp_path, tiny_recipe):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(ConfigError, match=r"output_dir .*afile is not a folder"):
        train(tiny_recipe(toy_manifest, tmp_path / "afile", epochs=1))
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.mark.parametrize(
    ("run_json", "error", "expected"),
    [
        ("{", InputFileError, "not valid JSON at line 1"),
        ('{"recipe": {}}', ConfigError, "key 'manifest'"),
        ("[1]", ConfigError, "expected a mapping"),
    ],
    ids=["json", "key", "list"],
)
def test_export_of_a_damaged_run_record_is_refused(tmp_path, run_json, error, expected):
    (tmp_path / RUN_JSON).write_text(run_json)
    (tmp_path / BEST).write_text("x")
    with pytest.raises(error, match=expected) as caught:
        export_run(tmp_path, out_dir=tmp_path / "out")
    assert str(tmp_path / RUN_JSON) in caught.value.message
    assert not (tmp_path / "out").exists()


# -- with a trained run -------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory, taxonomy, tiny_recipe):
    """A finished one-epoch build on its own data (tests copy the run before changing it)."""
    data = write_toy_manifest(tmp_path_factory.mktemp("refusals") / "data", taxonomy)
    return build_artifact(
        tiny_recipe(data, data.parent.parent / "run", epochs=1), with_robustness=False
    )


@pytest.mark.slow
def test_a_build_that_fails_after_training_keeps_the_previous_artifact(built, tmp_path):
    # A test photo that exists but cannot be decoded passes the up-front checks and fails
    # only when the new artifact is measured: the artifact and report stay the old ones.
    # (Before, the artifact was replaced by one without metrics or card.)
    source = built.train.splits
    data = Path(shutil.copytree(source.manifest.parent, tmp_path / "data"))
    damaged = data / source.test[0].path
    damaged.write_bytes(b"not a photo")
    run = Path(shutil.copytree(built.train.run_dir, tmp_path / "run"))
    before = {name: snapshot(run / name) for name in (ARTIFACT_DIR, EVALUATION_DIR)}
    assert "MODEL_CARD.md" in before[ARTIFACT_DIR] and "metrics.json" in before[EVALUATION_DIR]
    # The same run, moved with its data; resumed, it trains nothing and rebuilds the artifact.
    config = read_run(run)[1].with_paths(manifest=data / source.manifest.name, output_dir=run)
    with pytest.raises(ImageError) as caught:
        build_artifact(config, resume=True, with_robustness=False)
    assert {name: snapshot(run / name) for name in before} == before
    assert not (run / STAGING_DIR).exists()
    assert str(damaged) in caught.value.message


@pytest.mark.slow
def test_a_build_whose_last_move_fails_keeps_the_previous_artifact_and_report(
    built, tmp_path, monkeypatch
):
    # The new artifact is moved in, then moving the report in fails: the old artifact and the
    # old report come back together (before, the run kept the new artifact beside an old
    # report, or lost its report).
    run = Path(shutil.copytree(built.train.run_dir, tmp_path / "run"))
    before = {name: snapshot(run / name) for name in (ARTIFACT_DIR, EVALUATION_DIR)}
    config = read_run(run)[1].with_paths(manifest=built.train.splits.manifest, output_dir=run)
    rename = Path.rename
    failed: list[Path] = []

    def report_move_fails(self: Path, target):  # the new report's move in, once
        if Path(target) == run / EVALUATION_DIR and self.name == EVALUATION_DIR and not failed:
            failed.append(self)
            raise OSError(28, "No space left on device", str(target))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", report_move_fails)
    with pytest.raises(OSError, match="No space left"):
        build_artifact(config, resume=True, with_robustness=False)
    assert failed  # the fault was met
    assert {name: snapshot(run / name) for name in before} == before
    assert not (run / STAGING_DIR).exists()


@pytest.mark.slow
def test_a_damaged_best_checkpoint_is_refused_by_export(built, tmp_path):
    run = Path(shutil.copytree(built.train.run_dir, tmp_path / "run"))
    (run / BEST).write_bytes(b"junk")
    with pytest.raises(ModelMismatchError, match="is not a readable checkpoint") as caught:
        export_run(run)
    assert str(run / BEST) in caught.value.message
    assert snapshot(run / ARTIFACT_DIR) == snapshot(built.artifact_dir)


@pytest.mark.slow
def test_evaluate_refuses_bad_rows_and_absent_styles_before_measuring(built, tmp_path):
    manifest = built.train.splits.manifest
    bad = _edited(
        manifest,
        tmp_path / "bad.csv",
        lambda r: replace(r, room="garage") if r.path.endswith("f09_0.jpg") else r,
    )
    with pytest.raises(ManifestError, match="room 'garage' is not in the taxonomy"):
        evaluate_artifact(built.artifact_dir, bad, out_dir=tmp_path / "ev", split="all",
                          with_robustness=False, allow_overlap=True)  # fmt: skip
    with pytest.raises(ManifestError, match="no photo has style 999"):
        evaluate_artifact(built.artifact_dir, manifest, out_dir=tmp_path / "ev",
                          held_out_styles=[999], with_robustness=False)  # fmt: skip
    assert not (tmp_path / "ev").exists()


def test_evaluate_checks_out_before_measuring(tmp_path, monkeypatch):
    # Before, --out was first written after the whole measurement. Nothing is read first:
    # the model folder and the manifest do not even exist here.
    import training.evaluate

    monkeypatch.setattr(training.evaluate, "evaluate", lambda *a, **k: pytest.fail("measured"))
    (tmp_path / "afile").write_text("mine")
    for out in (tmp_path / "afile", tmp_path / "afile" / "ev"):
        with pytest.raises(InputFileError, match=r"--out .* is not a folder"):
            evaluate_artifact(tmp_path / "model", tmp_path / "m.csv", out_dir=out)
    assert (tmp_path / "afile").read_text() == "mine"


def _error_lines(monkeypatch, capsys, *args: str) -> list[str]:
    """The `error [...]` lines of the `shanyraq` entry point run in-process (exit code 2)."""
    from shanyraq.cli import main

    monkeypatch.setattr(sys, "argv", ["shanyraq", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error")]


def test_the_cli_prints_each_refusal_as_one_line(
    toy_manifest, tmp_path, tiny_recipe, monkeypatch, capsys
):
    manifest = _edited(toy_manifest, tmp_path / "bad.csv", lambda r: replace(r, room="garage"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(tiny_recipe(manifest, tmp_path / "run").model_dump(mode="json"))
    )
    [line] = _error_lines(monkeypatch, capsys, "train", str(recipe))
    assert line.startswith("error [manifest_invalid]: ") and "40 problem(s)" in line
    assert "and 35 more" in line and "shanyraq data check" in line
    assert not (tmp_path / "run").exists()
    (tmp_path / "run").mkdir()
    [line] = _error_lines(monkeypatch, capsys, "train", str(recipe), "--resume")
    assert line.startswith("error [nothing_to_resume]: ")
    [line] = _error_lines(monkeypatch, capsys, "export", str(tmp_path / "run"))
    assert line.startswith("error [model_mismatch]: ") and "not a finished training run" in line
