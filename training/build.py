"""From recipe to model artifact: train, calibrate on validation, export, evaluate, report.

`build_artifact(config)` is what `shanyraq train CONFIG` runs and what other folders' test
fixtures call (with configs/train/tiny.yaml) to get a real, small artifact in seconds.
`export_run(run_dir)` re-exports a finished run (`shanyraq export RUN`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shanyraq.errors import ModelMismatchError
from shanyraq.manifest import ManifestRow, read_manifest
from shanyraq.taxonomy import get_taxonomy
from training.calibrate import Calibration, fit_calibration
from training.dataset_splits import DataSplits, load_splits
from training.evaluate import collect_logits, evaluate, load_images, onnx_predictor
from training.recipe import TrainConfig, load_recipe
from training.report import headline, write_model_card, write_report
from training.train import BEST, RUN_JSON, TrainResult, train
from vision.artifact import ModelArtifact, Temperatures, write_artifact
from vision.export import ExportRequest, export_artifact, weights_digest
from vision.model import ShanyraqNet, load_model

logger = logging.getLogger(__name__)

ARTIFACT_DIR, EVALUATION_DIR, CALIBRATION_JSON = "artifact", "evaluation", "calibration.json"
PARITY_PHOTOS = 16


@dataclass(frozen=True)
class BuildResult:
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
        digest = hashlib.sha256((digest + calibration.model_dump_json()).encode()).hexdigest()
    return f"{config.name}-{config.model.variant}-{day}-{digest[:8]}"


def fit_on_validation(
    model: ShanyraqNet, splits: DataSplits, *, spec: Any, config: TrainConfig
) -> Calibration:
    """Temperatures per head (and offsets where the recipe asks) from the validation logits."""
    from training.evaluate import torch_predictor

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


def read_calibration(path: Path) -> Calibration:
    """A run's calibration file; runs from before offsets hold bare temperatures."""
    if not path.is_file():
        return Calibration()
    data = json.loads(path.read_text(encoding="utf-8"))
    if "temperatures" not in data:
        return Calibration(temperatures=Temperatures.model_validate(data))
    return Calibration.model_validate(data)


def export_run(
    run_dir: Path,
    *,
    out_dir: Path | None = None,
    metrics: dict[str, Any] | None = None,
) -> tuple[Path, ModelArtifact]:
    """Export a finished run (best.pt + its calibration) as an artifact folder."""
    if not (run_dir / RUN_JSON).is_file() or not (run_dir / BEST).is_file():
        raise ModelMismatchError(
            f"{run_dir} is not a finished training run ({RUN_JSON} or {BEST} missing); "
            "run `shanyraq train CONFIG` first"
        )
    info = json.loads((run_dir / RUN_JSON).read_text(encoding="utf-8"))
    config = TrainConfig.model_validate(info["recipe"])
    model, spec = load_model(run_dir / BEST)
    manifest = read_manifest(Path(info["manifest"]))
    calibration = read_calibration(run_dir / CALIBRATION_JSON)
    parity_rows = (manifest.by_split("val") or manifest.rows)[:PARITY_PHOTOS]
    request = ExportRequest(
        variant=config.model.variant,
        preprocessing=spec,
        model_version=model_version(config, model, calibration),
        temperatures=calibration.temperatures,
        biases=calibration.biases,
        metrics=metrics,
        training_data_sha256=info.get("training_data_sha256", info["manifest_sha256"]),
        training_config=info["recipe"],
        augmentation=info.get("augmentation"),
    )
    out = out_dir or run_dir / ARTIFACT_DIR
    artifact = export_artifact(
        model,
        out,
        request=request,
        taxonomy=get_taxonomy(),
        parity_images=load_images(parity_rows, manifest.root, spec),
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
    """Train a recipe and leave a complete, calibrated, evaluated artifact in its run folder."""
    if isinstance(config, Path):
        config = load_recipe(config)
    result = train(config, resume=resume, stop_after_epoch=stop_after_epoch)
    run_dir = result.run_dir
    model, spec = load_model(result.best_model)
    splits = load_splits(config.data)
    calibration = fit_on_validation(model, splits, spec=spec, config=config)
    (run_dir / CALIBRATION_JSON).write_text(calibration.model_dump_json(indent=2))
    artifact_dir, artifact = export_run(run_dir)
    test_rows, on_validation = evaluation_rows(splits)
    metrics = evaluate(
        onnx_predictor(artifact_dir),
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
    if config.data.synthetic is not None:  # generator data: how far a perfect reader gets
        from training.synth.ceiling import condition_ceiling

        ceiling = condition_ceiling(seed=config.seed)
        metrics["data"]["condition_ceiling"] = ceiling.model_dump()
    artifact = artifact.model_copy(update={"metrics": headline(metrics)})
    write_artifact(artifact_dir, artifact)
    evaluation_dir = run_dir / EVALUATION_DIR
    write_report(evaluation_dir, metrics, artifact=artifact)
    write_model_card(artifact_dir / "MODEL_CARD.md", artifact, metrics, recipe=config)
    if config.model_card is not None:
        write_model_card(config.model_card, artifact, metrics, recipe=config)
    return BuildResult(result, artifact_dir, artifact, evaluation_dir, metrics)
