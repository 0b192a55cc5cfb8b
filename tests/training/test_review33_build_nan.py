"""What `build_artifact` returns agrees with what it saved: a figure the photos leave undefined
is NaN while measured, and null in model.json and metrics.json (JSON has no NaN); a caller
reading the returned result must see what one reading the files sees."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import training.build as build
from training.build import build_artifact
from training.report import headline
from vision.artifact import CARD_FILE, read_artifact


@pytest.mark.slow
def test_the_returned_result_holds_what_the_saved_files_hold(
    monkeypatch, tmp_path, tiny_recipe, toy_manifest
):
    real = build.evaluate

    def undefined_signs_map(*args: Any, **kwargs: Any) -> dict[str, Any]:
        metrics = real(*args, **kwargs)
        metrics["test"]["signs"]["map"] = math.nan  # as on photos with no sign both ways
        return metrics

    monkeypatch.setattr(build, "evaluate", undefined_signs_map)
    card = tmp_path / "model-card.md"
    recipe = tiny_recipe(toy_manifest, tmp_path / "run").model_copy(update={"model_card": card})
    built = build_artifact(recipe, with_robustness=False)

    saved = read_artifact(built.artifact_dir)
    assert saved.metrics["signs_map"] is None  # the writer's null: the case this test is about
    assert built.artifact == saved
    on_disk = json.loads((built.evaluation_dir / "metrics.json").read_text(encoding="utf-8"))
    assert on_disk["test"]["signs"]["map"] is None
    assert built.metrics == on_disk
    # The figures still read as undefined where they are read as numbers.
    assert math.isnan(headline(built.metrics)["signs_map"])
    # The tracked card, written from the returned result, says what the artifact's own says.
    assert card.read_text(encoding="utf-8") == (built.artifact_dir / CARD_FILE).read_text(
        encoding="utf-8"
    )
