"""`shanyraq demo` goes on with a photo model build cut short instead of training afresh."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from serving import demo_build
from training.resume import ResumeMismatchError


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    data = yaml.safe_load(Path("configs/train/demo.yaml").read_text())
    data["output_dir"] = str(tmp_path / "run")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[bool]:
    """Each build_artifact call's `resume` (no training: what is asked of it is the point)."""
    calls: list[bool] = []

    def build(recipe: Path, *, resume: bool = False, with_robustness: bool = True):
        calls.append(resume)
        return SimpleNamespace(artifact_dir=tmp_path / "run" / "artifact")

    monkeypatch.setattr("training.build.build_artifact", build)
    return calls


def _paths(recipe: Path) -> demo_build.DemoPaths:
    model_dir = recipe.parent / "run" / "artifact"
    fusion = recipe.parent / "fusion"
    (fusion / "m").mkdir(parents=True)
    (fusion / "m" / "fusion.json").write_text("{}")  # present: only the photo model is built
    return demo_build.DemoPaths(
        recipe=recipe, model_dir=model_dir, fusion_root=fusion, fusion_model="m"
    )


def test_a_build_without_a_checkpoint_starts_afresh(recipe, builds):
    demo_build.ensure_models(_paths(recipe))
    assert builds == [False]


def test_a_build_cut_short_goes_on_from_its_checkpoint(recipe, builds):
    (recipe.parent / "run").mkdir()
    (recipe.parent / "run" / "last.pt").write_bytes(b"checkpoint")
    demo_build.ensure_models(_paths(recipe))
    assert builds == [True]


def test_a_checkpoint_that_cannot_be_resumed_is_said_and_replaced(
    recipe, builds, monkeypatch, caplog
):
    (recipe.parent / "run").mkdir()
    (recipe.parent / "run" / "last.pt").write_bytes(b"checkpoint")
    import training.build

    real = training.build.build_artifact

    def refusing(recipe: Path, *, resume: bool = False, with_robustness: bool = True):
        if resume:
            real(recipe, resume=resume, with_robustness=with_robustness)
            raise ResumeMismatchError("last.pt is another recipe's run")
        return real(recipe, resume=resume, with_robustness=with_robustness)

    monkeypatch.setattr("training.build.build_artifact", refusing)
    with caplog.at_level("WARNING", logger="serving.demo"):
        demo_build.ensure_models(_paths(recipe))
    assert builds == [True, False]
    assert "another recipe's run; building the demo photo model afresh" in caplog.text
