"""From recipe to model artifact: train, calibrate on validation, export, evaluate, report.

`build_artifact(config)` is what `shanyraq train CONFIG` runs and what other folders' test
fixtures call (with configs/train/tiny.yaml) to get a real, small artifact in seconds. The
artifact and its evaluation are built in a staging folder and swapped in together at the end:
a build that fails after training leaves the run's previous artifact and report as they were.
`export_run(run_dir)` re-exports a finished run (`shanyraq export RUN`); reading the run and
the checks before it is exported are training.finished_run's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shanyraq.atomic import atomic_file, swap_entries
from shanyraq.manifest import ManifestRow, read_manifest
from shanyraq.taxonomy import get_taxonomy
from training.calibrate import Calibration, fit_calibration
from training.dataset_splits import DataSplits
from training.evaluate import evaluate
from training.finished_run import RunRecord as RunRecord  # re-exported: callers use them here
from training.finished_run import check_finished as check_finished  # re-exported
from training.finished_run import check_run_taxonomy as check_run_taxonomy  # re-exported
from training.finished_run import load_best as load_best  # re-exported
from training.finished_run import read_calibration as read_calibration  # re-exported
from training.finished_run import read_run as read_run  # re-exported
from training.finished_run import same_model_at as same_model_at  # re-exported
from training.logits import collect_logits, load_images, onnx_predictor
from training.model_card import write_model_card
from training.recipe import TrainConfig, load_recipe
from training.report import METRICS_JSON, headline, write_report
from training.run_folder import BEST, CALIBRATION_JSON, RUN_JSON
from training.train import TrainResult, train
from vision.artifact import CARD_FILE, ModelArtifact, read_artifact
from vision.export import ExportRequest, check_destination, export_artifact, weights_digest
from vision.model import ShanyraqNet

logger = logging.getLogger(__name__)

ARTIFACT_DIR, EVALUATION_DIR = "artifact", "evaluation"
STAGING_DIR = "build.partial"  # in the run folder; a build's outputs until they are complete
PREVIOUS_DIR = "build.previous"  # in the run folder; the replaced outputs, during the swap
PARITY_PHOTOS = 16


@dataclass(frozen=True)
class BuildResult:
    """A build's outputs; `artifact` and `metrics` as its model.json and metrics.json hold them
    (a figure the photos leave undefined is None there: JSON has no NaN)."""

    train: TrainResult
    artifact_dir: Path
    artifact: ModelArtifact
    evaluation_dir: Path
    metrics: dict[str, Any]


def model_version(
    config: TrainConfig, model: ShanyraqNet, calibration: Calibration | None = None
) -> str:
    """Recipe, variant, day and a digest of what decides the outputs: weights and calibration."""
    day = datetime.now(UTC).strftime("%Y%m%d")
    digest = weights_digest(model)
    if calibration is not None and calibration != Calibration():
        # What the model computes: a note on how the fit ended is not part of it.
        fitted = calibration.model_dump_json(exclude={"temperature_at_bound"})
        digest = hashlib.sha256((digest + fitted).encode()).hexdigest()
    return f"{config.name}-{config.model.variant}-{day}-{digest[:8]}"


def fit_on_validation(
    model: ShanyraqNet, splits: DataSplits, *, spec: Any, config: TrainConfig
) -> Calibration:
    """Temperatures per head (and offsets where the recipe asks) from the validation logits."""
    from training.logits import torch_predictor

    taxonomy = get_taxonomy()
    images = load_images(splits.val, splits.root, spec)
    logits = collect_logits(
        torch_predictor(model),
        images,
        splits.val,
        spec=spec,
        taxonomy=taxonomy,
        batch_size=config.loader.eval_batch_size,
    )
    return fit_calibration(
        logits,
        formulation=model.condition_formulation,
        bias_heads=config.calibration.bias_heads,
        l2=config.calibration.bias_l2,
        min_examples=config.calibration.min_examples_per_class,
        class_names={
            "room": taxonomy.room_names,
            "condition": [str(g) for g in taxonomy.condition_values],
        },
    )


def export_run(
    run_dir: Path,
    *,
    out_dir: Path | None = None,
    metrics: dict[str, Any] | None = None,
    complete: Callable[[Path, ModelArtifact], ModelArtifact] | None = None,
) -> tuple[Path, ModelArtifact]:
    """Export a finished run (best.pt + its calibration) as an artifact folder. Into an
    artifact of the same model (the run's own, as its build left it), the figures in its
    model.json and its card are kept. `complete`: as export_artifact's (the build's measure).

    A run trained with another taxonomy than configs/ holds now is refused
    (ModelMismatchError): its outputs would be labelled by the current taxonomy's labels and
    the artifact accepted with them; so is a run stopped before its last epoch
    (`check_finished`). model.json records the code that trained the model (run.json's) as its
    code version, and the code that exported it in `exported_with`.
    """
    out = out_dir or run_dir / ARTIFACT_DIR
    check_destination(out)  # before the model is loaded and photos decoded (checked again last)
    info, config = read_run(run_dir)
    taxonomy = get_taxonomy()
    check_run_taxonomy(info, taxonomy, source=run_dir / RUN_JSON)
    check_finished(info, config, run_dir=run_dir)
    model, spec = load_best(run_dir / BEST)
    manifest = read_manifest(info.manifest)
    calibration = read_calibration(run_dir / CALIBRATION_JSON)
    parity_rows = (manifest.by_split("val") or manifest.rows)[:PARITY_PHOTOS]
    version = model_version(config, model, calibration)
    kept = same_model_at(out, version) if metrics is None else None
    card = out / CARD_FILE
    if info.code_version is None:
        logger.warning(
            "%s does not record the code the run trained with (written by an older Shanyraq): "
            "model.json records the exporting code's version",
            run_dir / RUN_JSON,
        )
    request = ExportRequest(
        variant=config.model.variant,
        preprocessing=spec,
        model_version=kept.model_version if kept else version,
        temperatures=calibration.temperatures,
        biases=calibration.biases,
        metrics=kept.metrics if kept else metrics,
        training_data_sha256=info.training_data_sha256 or info.manifest_sha256,
        training_config=info.recipe,
        augmentation=info.augmentation,
        trained_with=info.code_version,
    )
    artifact = export_artifact(  # one write of each file: model.json with all its fields
        model,
        out,
        request=request,
        taxonomy=taxonomy,
        parity_images=load_images(parity_rows, manifest.root, spec),
        card=card.read_text(encoding="utf-8") if kept and card.is_file() else None,
        complete=complete,
    )
    return out, artifact


def evaluation_rows(splits: DataSplits) -> tuple[list[ManifestRow], bool]:
    """The rows a build measures its artifact on, and whether they are the validation split.

    Without a test split they are: validation chose the best epoch and fitted the calibration,
    so the figures overstate the model, as the log, metrics.json, report and card then say.
    """
    if splits.test:
        return splits.test, False
    logger.warning(
        "%s has no test split: evaluating on the validation split, which chose the best epoch "
        "and fitted the calibration, so the figures overstate the model; the report and the "
        "model card say so",
        splits.manifest,
    )
    return splits.val, True


def build_artifact(
    config: TrainConfig | Path,
    *,
    resume: bool = False,
    with_robustness: bool = True,
    stop_after_epoch: int | None = None,
) -> BuildResult:
    """Train a recipe and leave a complete, calibrated, evaluated artifact in its run folder.

    The artifact and the evaluation report replace the run's previous ones only once both
    are complete (model.json with its metrics, the model card): a failure after training
    leaves the previous ones as they were and no new one that looks complete. A run stopped
    by `stop_after_epoch` (an interruption's stand-in) is refused once trained (`check_finished`).
    """
    if isinstance(config, Path):
        config = load_recipe(config)
    check_synthetic(config)
    result = train(config, resume=resume, stop_after_epoch=stop_after_epoch)
    run_dir, splits = result.run_dir, result.splits
    check_finished(read_run(run_dir)[0], config, run_dir=run_dir)  # a stopped run: no artifact
    model, spec = load_best(result.best_model)
    calibration = fit_on_validation(model, splits, spec=spec, config=config)
    with atomic_file(run_dir / CALIBRATION_JSON) as tmp:  # export reads it: whole or none
        tmp.write_text(calibration.model_dump_json(indent=2))
    staging = run_dir / STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)  # a failed build's, killed before it cleaned up
    previous = run_dir / PREVIOUS_DIR  # the run's previous artifact and report, once swapped
    shutil.rmtree(previous, ignore_errors=True)
    try:
        artifact, metrics = _build_in(staging, run_dir, config, splits, with_robustness)
        previous.mkdir()
        # Both or neither: a failed move puts the previous artifact and report back together.
        swap_entries(
            staging, run_dir, replaced=(ARTIFACT_DIR, EVALUATION_DIR), aside=previous, sync=True
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # empty once every move was undone; if one could
            previous.rmdir()  # not be, it still holds the previous build: kept
        raise
    shutil.rmtree(staging)
    shutil.rmtree(previous)
    logger.info(  # the export logged the staging folder; this is where the build now is
        "build complete: artifact %s in %s, report in %s",
        artifact.model_version,
        run_dir / ARTIFACT_DIR,
        run_dir / EVALUATION_DIR,
    )
    if config.model_card is not None:
        # A tracked copy (docs/model-card.md): left alone when only the build stamp would change.
        write_model_card(config.model_card, artifact, metrics, recipe=config, keep_unchanged=True)
    return BuildResult(result, run_dir / ARTIFACT_DIR, artifact, run_dir / EVALUATION_DIR, metrics)


def check_synthetic(config: TrainConfig) -> None:
    """Refuse (ConfigError), before any photo is generated or any epoch trained, a recipe whose
    build would be refused at its end: with synthetic data the build measures the condition
    ceiling (`_build_in`), which refuses a synth config that draws no dwelling room."""
    if config.data.synthetic is None:
        return
    from shanyraq.taxonomy import get_taxonomy
    from training.synth.ceiling import graded_rooms
    from training.synth.config import get_synth_config

    graded_rooms(get_synth_config(), get_taxonomy())


def _build_in(
    staging: Path, run_dir: Path, config: TrainConfig, splits: DataSplits, with_robustness: bool
) -> tuple[ModelArtifact, dict[str, Any]]:
    """Export, evaluate, and write model.json, the card and the report, all under `staging`;
    returns model.json and metrics.json as written (an undefined figure None, not NaN).

    The graph is measured in the export's own staging folder, before its model.json is
    written: model.json is written once, with the figures, rather than without and again."""
    measured: dict[str, Any] = {}

    def measure(folder: Path, exported: ModelArtifact) -> ModelArtifact:
        measured.update(_evaluate(folder, exported, config, splits, with_robustness))
        exported = exported.model_copy(update={"metrics": headline(measured)})
        write_model_card(folder / CARD_FILE, exported, measured, recipe=config)
        return exported

    _, artifact = export_run(run_dir, out_dir=staging / ARTIFACT_DIR, complete=measure)
    write_report(staging / EVALUATION_DIR, measured, artifact=artifact)
    # What the files hold, read back: JSON has no NaN, so a figure the photos leave undefined
    # is null there; the build's caller gets what a reader of the files gets.
    saved = (staging / EVALUATION_DIR / METRICS_JSON).read_text(encoding="utf-8")
    return read_artifact(staging / ARTIFACT_DIR), json.loads(saved)


def _evaluate(
    folder: Path,
    artifact: ModelArtifact,
    config: TrainConfig,
    splits: DataSplits,
    with_robustness: bool,
) -> dict[str, Any]:
    """The figures of the graph in `folder` on the evaluation rows, with what data they
    come from (and, for generator data, how far a perfect reader gets)."""
    test_rows, on_validation = evaluation_rows(splits)
    metrics = evaluate(
        onnx_predictor(folder),
        artifact,
        root=splits.root,
        test_rows=test_rows,
        taxonomy=get_taxonomy(),
        held_out_style_rows=splits.held_out_style,
        with_robustness=with_robustness,
    )
    metrics["data"] = {
        "manifest": str(splits.manifest),
        "manifest_sha256": splits.manifest_sha256,
        "evaluated_split": "val" if on_validation else "test",
        # The split that picked the epoch and fitted calibration: figures on it are inflated.
        "evaluated_on_validation": on_validation,
        "held_out_styles": list(config.data.held_out_styles),
    }
    metrics["score_reference"]["split"] = metrics["data"]["evaluated_split"]
    if config.data.synthetic is not None:  # generator data: how far a perfect reader gets
        from training.synth.ceiling import condition_ceiling

        ceiling = condition_ceiling(seed=config.seed)
        metrics["data"]["condition_ceiling"] = ceiling.model_dump()
    return metrics
