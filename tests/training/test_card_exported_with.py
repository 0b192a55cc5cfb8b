"""The model card names what exported the model (model.json exported_with) in its build stamp,
says nothing of it for older artifacts, and is written atomically."""

from __future__ import annotations

from shanyraq.manifest import read_manifest
from tests.vision.engine_fixtures import make_artifact
from training.evaluate import evaluate
from training.model_card import model_card, write_model_card
from vision.artifact import read_artifact

from .fixed_model import fixed_predictor
from .toy_manifest_helpers import write_toy_manifest


def test_the_card_names_them_in_its_build_stamp_and_old_artifacts_say_nothing(tmp_path, taxonomy):
    artifact = read_artifact(make_artifact(tmp_path / "model", taxonomy))
    tools = artifact.exported_with
    predictor_artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)
    toy = read_manifest(write_toy_manifest(tmp_path / "data", taxonomy, n_families=3, per_family=2))
    metrics = evaluate(predict, predictor_artifact, root=toy.root, test_rows=toy.rows,
                       taxonomy=taxonomy)  # fmt: skip
    card = model_card(artifact, metrics, recipe=None)
    stamp = next(line for line in card.splitlines() if line.startswith("- Taxonomy version"))
    assert f"exported with torch {tools['torch']}" in stamp
    assert f"ONNX opset {tools['onnx_opset']} (torchscript exporter)." in stamp

    older = model_card(artifact.model_copy(update={"exported_with": {}}), metrics, recipe=None)
    assert "exported with" not in older

    # A tracked card that differs only in what exported the model is left as it is.
    path = write_model_card(tmp_path / "card.md", artifact, metrics, recipe=None)
    before = path.read_text(encoding="utf-8")
    newer = artifact.model_copy(update={"exported_with": {**tools, "torch": "9.9.9"}})
    write_model_card(path, newer, metrics, recipe=None, keep_unchanged=True)
    assert path.read_text(encoding="utf-8") == before
    assert list(tmp_path.glob("card.md.*")) == []  # no temporary left beside it
