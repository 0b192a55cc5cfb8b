"""Review 26 of `shanyraq export RUN` after the run's record grew its taxonomy and code: a run
trained with another taxonomy than configs/ holds now is refused, an older run without the
record is exported with a warning, and model.json names the code that trained the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shanyraq import __version__
from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy
from training.build import export_run
from training.run_folder import RUN_JSON
from training.train import train
from vision.artifact import read_artifact

TRAINED_WITH = "0.0.1+0123456789ab"  # another code than the one exporting


def _edit_run_json(run: Path, **changes: object) -> None:
    info = json.loads((run / RUN_JSON).read_text())
    for key, value in changes.items():
        if value is None:
            del info[key]
        else:
            info[key] = value
    (run / RUN_JSON).write_text(json.dumps(info))


@pytest.fixture
def finished_run(run, toy_manifest, tiny_recipe) -> Path:
    """`run` trained to its last epoch: export refuses a run stopped before it."""
    train(tiny_recipe(toy_manifest, run), resume=True)
    return run


def test_a_run_trained_with_another_taxonomy_is_not_exported(
    run, reordered_signs, taxonomy, tmp_path
):
    # Before, model.json was stamped with the taxonomy configs/ held at export: the engine
    # accepted the artifact and read each of the two sign outputs as the other sign.
    out = tmp_path / "out"
    with pytest.raises(ModelMismatchError) as caught:
        export_run(run, out_dir=out)
    message = caught.value.message
    now = get_taxonomy()
    assert str(run / RUN_JSON) in message and str(reordered_signs) in message
    assert (
        f"taxonomy version {taxonomy.version} ({taxonomy.fingerprint()[:12]}), but "
        f"{reordered_signs} is now version {now.version} ({now.fingerprint()[:12]})"
    ) in message
    assert "restore the taxonomy it was trained with" in message
    assert "train the recipe again" in message and "\n" not in message
    assert not out.exists()


def test_model_json_names_the_code_that_trained_the_model(finished_run, tmp_path):
    run = finished_run
    # Before, model.json's code version was the exporting code's, whatever trained the model.
    _edit_run_json(run, code_version=TRAINED_WITH)
    _, artifact = export_run(run, out_dir=tmp_path / "out")
    saved = read_artifact(tmp_path / "out")
    assert saved.code_version == artifact.code_version == TRAINED_WITH
    # The exporting code's version, beside the graph's tools (its commit is the tree's, which
    # may change while tests run).
    assert str(saved.exported_with["shanyraq"]).startswith(__version__)
    assert {"torch", "onnx", "onnxruntime"} <= saved.exported_with.keys()


def test_an_older_run_without_its_taxonomy_and_code_is_exported_with_warnings(
    finished_run, tmp_path, caplog, taxonomy
):
    run = finished_run
    _edit_run_json(run, code_version=None, taxonomy=None)
    with caplog.at_level("WARNING", logger="training.build"):
        export_run(run, out_dir=tmp_path / "out")
    saved = read_artifact(tmp_path / "out")
    saved.check_taxonomy(taxonomy)
    assert saved.code_version.startswith(__version__) and "shanyraq" not in saved.exported_with
    assert "does not record the taxonomy the run trained with" in caplog.text
    assert "exported unchecked" in caplog.text
    assert "does not record the code the run trained with" in caplog.text
