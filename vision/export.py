"""ONNX export of a trained model into the artifact folder, refused unless ONNX Runtime agrees.

The graph takes "pixels" (N x 3 x S x S, float32, dynamic batch) and returns room_logits,
condition_logits, signs_logits and embedding, in that order. Before anything is written in
place, ONNX Runtime (CPU) and torch must agree within `tolerance` on every head's calibrated
probabilities for a batch of real photos; a failed export leaves any previous artifact intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shanyraq.errors import ShanyraqError
from shanyraq.provenance import code_version
from shanyraq.taxonomy import Taxonomy
from vision.artifact import (
    ONNX_FILE,
    TORCH_FILE,
    Biases,
    Labels,
    ModelArtifact,
    Preprocessing,
    Temperatures,
    write_artifact,
)
from vision.heads import head_probs
from vision.model import ShanyraqNet, save_model
from vision.preprocess import to_batch

logger = logging.getLogger(__name__)

INPUT_NAME = "pixels"
OUTPUT_NAMES = ["room_logits", "condition_logits", "signs_logits", "embedding"]
PARITY_TOLERANCE = 1e-4


class ExportParityError(ShanyraqError):
    """ONNX Runtime and torch disagree on the exported model's probabilities."""

    code = "export_parity"
    http_status = 500


@dataclass(frozen=True)
class ExportRequest:
    """What goes into model.json besides the weights."""

    variant: str
    preprocessing: Preprocessing
    model_version: str
    temperatures: Temperatures = field(default_factory=Temperatures)
    biases: Biases = field(default_factory=Biases)
    metrics: dict[str, Any] | None = None
    training_data_sha256: str = ""
    training_config: dict[str, Any] | None = None
    # run.json "augmentation" (training.train.augmentation_record): the pipeline's contents
    # and sha256, kept in model.json's training_config beside the recipe that names it.
    augmentation: dict[str, Any] | None = None


class _Exportable(nn.Module):
    """A plain tuple out, in OUTPUT_NAMES order, for the ONNX graph."""

    def __init__(self, model: ShanyraqNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(pixels)
        return out.room, out.condition, out.signs, out.embedding


def export_onnx(model: ShanyraqNet, path: Path, *, size: int) -> Path:
    """Write the ONNX graph with a dynamic batch axis (torch.export-based exporter)."""
    wrapped = _Exportable(model).eval()
    example = torch.zeros(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    # The exporter prints its progress to stdout; keep the CLI's output to what it says.
    with contextlib.redirect_stdout(io.StringIO()):
        _export(wrapped, example, path, batch)
    return path


def _export(wrapped: nn.Module, example: torch.Tensor, path: Path, batch: Any) -> None:
    torch.onnx.export(
        wrapped,
        (example,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=OUTPUT_NAMES,
        dynamic_shapes={"pixels": {0: batch}},
        dynamo=True,
        external_data=False,
        verbose=False,
    )


def onnx_session(path: Path) -> Any:
    """A CPU ONNX Runtime session (explicit provider: no GPU probing, no error spam)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_parity(
    model: ShanyraqNet,
    onnx_path: Path,
    artifact: ModelArtifact,
    images: list[np.ndarray],
    *,
    tolerance: float = PARITY_TOLERANCE,
) -> float:
    """Largest probability difference between torch and ONNX Runtime; raises above tolerance."""
    if not images:
        raise ExportParityError("no photos to check the export with; give at least one")
    batch = to_batch(images, artifact.preprocessing)
    with torch.no_grad():
        torch_out = [t.numpy() for t in _Exportable(model).eval()(torch.from_numpy(batch))]
    onnx_out = onnx_session(onnx_path).run(OUTPUT_NAMES, {INPUT_NAME: batch})
    worst = 0.0
    for calibrated in (False, True):
        ours = head_probs(artifact, *torch_out[:3], calibrated=calibrated)
        theirs = head_probs(artifact, *onnx_out[:3], calibrated=calibrated)
        for name, a, b in zip(("room", "condition", "signs"), ours, theirs, strict=True):
            gap = float(np.abs(a - b).max())
            worst = max(worst, gap)
            if gap > tolerance:
                raise ExportParityError(
                    f"ONNX Runtime and torch disagree on {name} probabilities by {gap:.2e} "
                    f"(> {tolerance:.0e}); the export is refused. Check for ops that export "
                    "differently (e.g. custom layers) or try another backbone."
                )
    logger.info("export parity: max probability gap %.2e on %d photos", worst, len(images))
    return worst


def weights_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _training_config(request: ExportRequest, *, timm_version: str) -> dict[str, Any]:
    """model.json training_config: the recipe, the timm version and, when the run recorded
    it, the augmentation pipeline's contents (older runs name it only, in the recipe)."""
    config = {**(request.training_config or {}), "timm_version": timm_version}
    if request.augmentation is not None:
        config["augmentation"] = request.augmentation
    return config


def build_metadata(
    model: ShanyraqNet, request: ExportRequest, *, taxonomy: Taxonomy
) -> ModelArtifact:
    import timm

    backbone_name = getattr(model.backbone, "default_cfg", {}).get("architecture", "")
    return ModelArtifact(
        model_version=request.model_version,
        backbone=backbone_name or type(model.backbone).__name__,
        taxonomy_version=taxonomy.version,
        taxonomy_fingerprint=taxonomy.fingerprint(),
        labels=Labels(
            room=taxonomy.room_names,
            condition=taxonomy.condition_values,
            signs=taxonomy.sign_names,
        ),
        condition_formulation=model.condition_formulation,
        preprocessing=request.preprocessing,
        temperatures=request.temperatures,
        biases=request.biases,
        embedding_dim=model.embedding_dim,
        metrics=request.metrics or {},
        training_data_sha256=request.training_data_sha256,
        training_config=_training_config(request, timm_version=timm.__version__),
        code_version=code_version(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def export_artifact(
    model: ShanyraqNet,
    out_dir: Path,
    *,
    request: ExportRequest,
    taxonomy: Taxonomy,
    parity_images: list[np.ndarray],
    tolerance: float = PARITY_TOLERANCE,
) -> ModelArtifact:
    """Write out_dir/{model.onnx, model.pt, model.json}; replaces out_dir only on success."""
    model = model.cpu().eval()
    artifact = build_metadata(model, request, taxonomy=taxonomy)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        export_onnx(model, staging / ONNX_FILE, size=request.preprocessing.size)
        check_parity(model, staging / ONNX_FILE, artifact, parity_images, tolerance=tolerance)
        save_model(
            model,
            staging / TORCH_FILE,
            variant=request.variant,
            preprocessing=request.preprocessing,
        )
        write_artifact(staging, artifact)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_in(staging, out_dir)
    logger.info("model artifact %s written to %s", artifact.model_version, out_dir)
    return artifact


def _swap_in(staging: Path, out_dir: Path) -> None:
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
