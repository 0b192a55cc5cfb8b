"""A finished training run as export reads it: its run.json and recipe, its calibration and
best.pt, and the checks before it is exported (trained to its last epoch, with the taxonomy
configs/ holds now), and whether an artifact already holds its model.

The names are importable from training.build too, where export and the build use them; the
warnings go to its logger ("training.build"), where a build's other warnings are.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shanyraq.config import default_configs_dir, parse_config
from shanyraq.errors import ModelMismatchError, read_json_file
from shanyraq.taxonomy import Taxonomy
from training.calibrate import Calibration
from training.recipe import TrainConfig
from training.resume import checkpoint_errors
from training.run_folder import BEST, RUN_JSON
from vision.artifact import META_FILE, ModelArtifact, Preprocessing, Temperatures, read_artifact
from vision.model import ShanyraqNet, load_model

logger = logging.getLogger("training.build")  # the build's log: export and the build read runs

BEST_HINT = "train the recipe again (`shanyraq train RECIPE`) to write a new one"


class RunRecord(BaseModel):
    """What export reads from a run's run.json (training.run_folder.run_record writes more)."""

    recipe: dict[str, Any]
    manifest: Path
    manifest_sha256: str
    training_data_sha256: str | None = None  # runs from before it record the manifest's only
    augmentation: dict[str, Any] | None = None  # runs from before it name the pipeline only
    # The code and taxonomy it trained with (training.resume.taxonomy_record); None in runs
    # from before they were recorded.
    code_version: str | None = None
    taxonomy: dict[str, Any] | None = None
    epochs_run: int | None = None
    finished: bool | None = None  # None in runs from before it was recorded


def read_calibration(path: Path) -> Calibration:
    """A run's calibration file; runs from before offsets hold bare temperatures."""
    if not path.is_file():
        logger.warning(
            "%s not found: the model is exported uncalibrated (every temperature 1); a run "
            "interrupted before its build has none: `shanyraq train RECIPE --resume` fits it",
            path,
        )
        return Calibration()
    data = read_json_file(path, "the run's calibration, written by `shanyraq train`")
    if isinstance(data, dict) and "temperatures" not in data:
        return Calibration(temperatures=parse_config(data, Temperatures, source=str(path)))
    return parse_config(data, Calibration, source=str(path))


def read_run(run_dir: Path) -> tuple[RunRecord, TrainConfig]:
    """A finished run's run.json and its recipe; a run that is not one, or whose record is
    damaged, is refused naming the file."""
    if not (run_dir / RUN_JSON).is_file() or not (run_dir / BEST).is_file():
        raise ModelMismatchError(
            f"{run_dir} is not a finished training run ({RUN_JSON} or {BEST} missing); "
            "run `shanyraq train CONFIG` first (with --resume to finish an interrupted run)"
        )
    path = run_dir / RUN_JSON
    data = read_json_file(path, "the record of a training run, written by `shanyraq train`")
    record = parse_config(data, RunRecord, source=str(path))
    return record, parse_config(record.recipe, TrainConfig, source=f"{path}, its recipe")


def load_best(path: Path) -> tuple[ShanyraqNet, Preprocessing]:
    """A run's best.pt; a damaged one is refused naming the file."""
    with checkpoint_errors(path, hint=BEST_HINT):
        return load_model(path)


def check_finished(info: RunRecord, config: TrainConfig, *, run_dir: Path) -> None:
    """Refuse (ModelMismatchError) a run stopped before its last epoch (`stop_after_epoch`,
    which stands for an interruption): its best.pt is the best of the epochs so far, not the
    recipe's model. A run from before run.json recorded it counts as stopped when it ran fewer
    epochs than its recipe and could not stop early; else it is taken as finished."""
    epochs, planned = info.epochs_run, config.optim.epochs
    finished = info.finished
    if finished is None:
        finished = epochs is None or epochs >= planned or config.optim.early_stopping is not None
    if finished:
        return
    raise ModelMismatchError(
        f"{run_dir} is a training run stopped after epoch {epochs} of {planned}, not a finished "
        f"one: its {BEST} is the best of those epochs only; run `shanyraq train CONFIG "
        "--resume` to finish it, then export it"
    )


def check_run_taxonomy(info: RunRecord, taxonomy: Taxonomy, *, source: Path) -> None:
    """Refuse (ModelMismatchError) a run trained with another taxonomy than `taxonomy`: with
    labels re-ordered or re-pointed and the heads' sizes unchanged, its artifact would load and
    read each output as another label. A run from before the taxonomy was recorded is exported
    unchecked, with a warning."""
    if info.taxonomy is None:
        logger.warning(
            "%s does not record the taxonomy the run trained with (written by an older "
            "Shanyraq): exported unchecked under configs/taxonomy.yaml's version %s; if the "
            "taxonomy changed since the run trained, its labels are wrong: train it again",
            source,
            taxonomy.version,
        )
        return
    if info.taxonomy.get("fingerprint") == taxonomy.fingerprint():
        return
    trained = info.taxonomy.get("version"), str(info.taxonomy.get("fingerprint"))[:12]
    raise ModelMismatchError(
        f"{source}: the run trained with taxonomy version {trained[0]} ({trained[1]}), but "
        f"{default_configs_dir() / 'taxonomy.yaml'} is now version {taxonomy.version} "
        f"({taxonomy.fingerprint()[:12]}), so its outputs would be read as other labels; "
        "restore the taxonomy it was trained with to export it, or train the recipe again "
        "(`shanyraq train RECIPE`)"
    )


def same_model_at(out: Path, version: str) -> ModelArtifact | None:
    """The artifact at `out` when it holds the model about to be exported there (the same
    weights and calibration: its version differs at most in the day), so that a re-export
    keeps the figures and card its build measured instead of dropping them."""
    if not (out / META_FILE).is_file():
        return None
    try:
        previous = read_artifact(out)
    except ModelMismatchError:
        return None
    old, new = previous.model_version.rsplit("-", 2), version.rsplit("-", 2)
    return previous if len(old) == 3 and (old[0], old[2]) == (new[0], new[2]) else None
