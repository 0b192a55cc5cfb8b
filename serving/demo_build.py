"""The demo's models: where they and the demo's data live (`DemoPaths`), and building those
missing (`ensure_models`): the photo model from its recipe, going on from a build cut short,
and the fusion model when it is missing or stale (serving.demo_models). Never downloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shanyraq.errors import ModelMismatchError

if TYPE_CHECKING:
    from training.build import BuildResult

# The demo's lines, wherever in its code: `shanyraq demo`'s reader finds them under one name.
logger = logging.getLogger("serving.demo")


def _serving_model() -> str:
    from welfare.criteria import get_welfare_config

    return get_welfare_config().fusion.serving_model


@dataclass(frozen=True)
class DemoPaths:
    recipe: Path = Path("configs/train/demo.yaml")
    model_dir: Path = Path("runs/demo/artifact")
    fusion_root: Path = Path("artifacts/welfare")
    fusion_model: str = field(default_factory=_serving_model)
    data_dir: Path = Path("var/demo")

    @property
    def fusion_dir(self) -> Path:
        return self.fusion_root / self.fusion_model


def ensure_models(paths: DemoPaths) -> None:
    """Build the demo photo model when it is missing, and the fusion model when it is missing
    or was trained under other configs (serving.demo_models); never downloaded."""
    from serving.demo_models import ensure_fusion_model

    if not (paths.model_dir / "model.json").exists():
        result = _build_photo_model(paths.recipe)
        if result.artifact_dir.resolve() != paths.model_dir.resolve():
            raise RuntimeError(f"{paths.recipe} wrote {result.artifact_dir}, not {paths.model_dir}")
    ensure_fusion_model(paths)


def _build_photo_model(recipe: Path) -> BuildResult:
    """Build the demo photo model; a build cut short (Ctrl-C, a closed terminal) goes on from
    its last epoch's checkpoint, which gives the model an uninterrupted build gives (training
    is seeded per epoch). A checkpoint that cannot be resumed (damaged, another recipe's) is
    said and the build starts afresh, replacing it."""
    from training.build import build_artifact
    from training.recipe import load_recipe
    from training.resume import NothingToResumeError, ResumeMismatchError
    from training.run_folder import LAST

    checkpoint = load_recipe(recipe).output_dir / LAST
    if checkpoint.is_file():
        logger.info("going on with the demo photo model's build from %s", checkpoint)
        try:
            return build_artifact(recipe, resume=True, with_robustness=False)
        except (NothingToResumeError, ResumeMismatchError, ModelMismatchError) as exc:
            logger.warning("%s; building the demo photo model afresh", exc.message)
    logger.info(
        "building the demo photo model from %s (under 10 minutes on 2 idle cores, longer on a "
        "busy machine)",
        recipe,
    )
    return build_artifact(recipe, with_robustness=False)
