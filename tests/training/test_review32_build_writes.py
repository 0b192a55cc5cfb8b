"""A build writes its model.json once, with everything in it (the evaluation's headline figures
included), instead of writing it at export and again once the evaluation is done."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import vision.artifact as artifact_module
from training.build import build_artifact
from vision.artifact import META_FILE, read_artifact


@pytest.mark.slow
def test_a_build_writes_model_json_once_with_its_final_content(
    monkeypatch, tmp_path, tiny_recipe, toy_manifest
):
    written: list[tuple[Path, str]] = []  # each model.json written: where, and what it held
    real = artifact_module.atomic_file

    @contextlib.contextmanager
    def recording(path: Path) -> Iterator[Path]:
        with real(path) as tmp:
            yield tmp
            if Path(path).name == META_FILE:
                written.append((Path(path), tmp.read_text(encoding="utf-8")))

    monkeypatch.setattr(artifact_module, "atomic_file", recording)
    built = build_artifact(tiny_recipe(toy_manifest, tmp_path / "run"), with_robustness=False)

    assert len(written) == 1, [str(path) for path, _ in written]
    final = built.artifact_dir / META_FILE
    assert written[0][1] == final.read_text(encoding="utf-8")
    saved = read_artifact(built.artifact_dir)  # the one write held the evaluation's figures
    assert saved.metrics["room_macro_f1"] == built.metrics["test"]["room"]["macro_f1"]
    assert saved.model_version == built.artifact.model_version and saved.exported_with
