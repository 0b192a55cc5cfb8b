"""Models whose recipe trained on the toy manifest (one style held out; nothing is trained) and
new photos of its families, for the tests of the overlap between training and test photos."""

from __future__ import annotations

from dataclasses import replace

HELD_OUT_STYLE = "2"  # toy families 2, 5 and 8


def untrained_artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy):
    """Metadata of a model whose recipe trained on the toy manifest, style 2 held out
    (check_overlap reads only the recipe, so nothing is trained)."""
    from training.validation import provisional_artifact
    from vision.artifact import Preprocessing
    from vision.model import create_model

    recipe = tiny_recipe(toy_manifest, tmp_path / "run")
    data = recipe.data.model_copy(update={"held_out_styles": [int(HELD_OUT_STYLE)]})
    model = create_model("shanyraq_test", taxonomy=taxonomy, condition_formulation="softmax")
    spec = Preprocessing(size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    artifact = provisional_artifact(model, spec, variant="shanyraq_test", taxonomy=taxonomy)
    config = recipe.model_copy(update={"data": data}).model_dump(mode="json")
    return artifact.model_copy(update={"training_config": config})


def another_photo(rows, family_id: str, n: int):
    """A new photo (new bytes, new sha256) of a family, in a test split."""
    row = next(r for r in rows if r.family_id == family_id)
    return replace(row, path=f"other-{n}.jpg", sha256=f"{n:064x}", split="test")
