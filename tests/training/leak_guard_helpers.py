"""Helpers of the leak guard tests: metadata of a tiny model trained on a given recipe (nothing
is trained), a copy of the toy manifest with absolute photo paths, and the rows a leak adds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shanyraq.manifest import read_manifest, write_manifest

TRAINED = "fam00"  # a train family of the toy manifest (style 0: never held out here)


def trained_on(recipe, taxonomy, *, data_sha256: str):
    """Metadata of a tiny model whose recipe is `recipe` (nothing is trained)."""
    from training.validation import provisional_artifact
    from vision.artifact import Preprocessing
    from vision.model import create_model

    model = create_model("shanyraq_test", taxonomy=taxonomy, condition_formulation="softmax")
    spec = Preprocessing(size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    metadata = provisional_artifact(model, spec, variant="shanyraq_test", taxonomy=taxonomy)
    return metadata.model_copy(
        update={
            "training_config": recipe.model_dump(mode="json"),
            "training_data_sha256": data_sha256,
        }
    )


def copy_with_absolute_paths(toy_manifest: Path, to: Path) -> Path:
    """The toy manifest at `to` with absolute photo paths (same rows, same photos)."""
    manifest = read_manifest(toy_manifest)
    rows = [replace(r, path=str(r.resolve(manifest.root))) for r in manifest.rows]
    return write_manifest(to, rows)


def leaked_rows(toy_manifest: Path) -> list:
    rows = read_manifest(toy_manifest).rows
    return [*(r for r in rows if r.split == "test"), *(r for r in rows if r.family_id == TRAINED)]
