"""Whether ONNX Runtime agrees with torch on an exported graph: `check_parity`, which an export
(vision.export) passes before anything is written in place.

The graph takes "pixels" (N x 3 x S x S, float32, dynamic batch) and returns OUTPUT_NAMES, in
that order, as `_Exportable` gives them from torch. ONNX Runtime (CPU) and torch must agree
within `tolerance` on every head's calibrated and uncalibrated probabilities, and on the
embedding in cosine distance, for a batch of real photos (ONNX Runtime scoring them as one
batch and one at a time), and neither may give a NaN or infinite output.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shanyraq.errors import ShanyraqError
from vision.artifact import INPUT_NAME, ModelArtifact, open_onnx
from vision.heads import head_probs, nonfinite_rows
from vision.model import ShanyraqNet
from vision.preprocess import to_batch

logger = logging.getLogger("vision.export")  # the export's log: parity is one of its steps

OUTPUT_NAMES = ["room_logits", "condition_logits", "signs_logits", "embedding"]
PARITY_TOLERANCE = 1e-4


class ExportParityError(ShanyraqError):
    """ONNX Runtime and torch disagree on the exported model's probabilities."""

    code = "export_parity"
    http_status = 500


class ExportNonFiniteError(ExportParityError):
    """The model gives NaN or infinite outputs: there is nothing to compare, nor to serve."""

    code = "export_nonfinite"


class _Exportable(nn.Module):
    """A plain tuple out, in OUTPUT_NAMES order, for the ONNX graph."""

    def __init__(self, model: ShanyraqNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(pixels)
        return out.room, out.condition, out.signs, out.embedding


def onnx_session(path: Path) -> Any:
    """A CPU ONNX Runtime session (explicit provider: no GPU probing, no error spam)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return open_onnx(path, sess_options=options, providers=["CPUExecutionProvider"])


def passable(images: list[np.ndarray], tolerance: float) -> bool:
    """Whether any graph could pass `check_parity` with `images` and `tolerance`: photos to
    check with, and a tolerance a difference can meet (0 or more; a NaN tolerance meets none,
    `_compare`). A graph written again by another exporter fares no better where it is not."""
    return bool(images) and tolerance >= 0


def check_parity(
    model: ShanyraqNet,
    onnx_path: Path,
    artifact: ModelArtifact,
    images: list[np.ndarray],
    *,
    tolerance: float = PARITY_TOLERANCE,
) -> float:
    """Largest probability difference between torch and ONNX Runtime; raises above tolerance
    (ExportParityError), or when either gives a NaN or infinite output (ExportNonFiniteError,
    a kind of it). The embeddings, which annotation selection compares by cosine distance
    (annotation/select.py), must agree within `tolerance` in cosine distance too.

    ONNX Runtime scores the photos as one batch and, when there are several, one photo at a
    time as well: serving sends batches of any size, and a graph that has the tracing batch
    baked in, or behaves otherwise at batch 1, agrees with torch on one size only."""
    if not images:
        raise ExportParityError("no photos to check the export with; give at least one")
    if not tolerance >= 0:  # NaN too: refused in its own words, not as a gap over it
        raise ExportParityError(
            f"parity tolerance {tolerance}: give 0 or more (the largest probability gap allowed "
            f"between torch and ONNX Runtime; {PARITY_TOLERANCE} as shipped)"
        )
    batch = to_batch(images, artifact.preprocessing)
    with torch.no_grad():
        torch_out = [t.numpy() for t in _Exportable(model).eval()(torch.from_numpy(batch))]
    _check_finite("torch", torch_out, n_photos=len(images))
    session = onnx_session(onnx_path)
    runs = {f"a batch of {len(batch)}": [batch]}
    if len(batch) > 1:
        runs["one photo at a time"] = [batch[i : i + 1] for i in range(len(batch))]
    worst = 0.0
    for how, pieces in runs.items():
        onnx_out = _run_onnx(session, pieces, how=how)
        worst = max(worst, _compare(torch_out, onnx_out, artifact, tolerance=tolerance, how=how))
    logger.info("export parity: max probability gap %.2e on %d photos", worst, len(images))
    return worst


def _run_onnx(session: Any, pieces: list[np.ndarray], *, how: str) -> list[np.ndarray]:
    """ONNX Runtime's outputs for `pieces` (batches run in turn), joined along the batch."""
    outputs = []
    for piece in pieces:
        try:
            outputs.append(session.run(OUTPUT_NAMES, {INPUT_NAME: piece}))
        except Exception as exc:  # onnxruntime's own errors share no base class but Exception
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportParityError(
                f"ONNX Runtime cannot run the exported graph on {how} ({reason}); the export is "
                "refused: its batch axis is not dynamic (e.g. a reshape to a fixed batch size "
                "in the model); make the model reshape by its input's batch size"
            ) from exc
    return [np.concatenate(parts) for parts in zip(*outputs, strict=True)]


def _compare(
    torch_out: list[np.ndarray],
    onnx_out: list[np.ndarray],
    artifact: ModelArtifact,
    *,
    tolerance: float,
    how: str,
) -> float:
    """Largest probability gap of one ONNX Runtime run against torch; raises as check_parity."""
    for name, expected, got in zip(OUTPUT_NAMES, torch_out, onnx_out, strict=True):
        if expected.shape != got.shape:  # else NumPy broadcasts one row against all the others
            raise ExportParityError(
                f"ONNX Runtime gives {name} of shape {got.shape} on {how}, torch "
                f"{expected.shape}; the export is refused. Check for ops that export differently "
                "(e.g. custom layers) or try another backbone."
            )
    # |NaN - p| > tolerance is False: without this, a model gone NaN would pass as agreeing.
    _check_finite("ONNX Runtime", onnx_out, n_photos=len(torch_out[0]))
    worst = 0.0
    for calibrated in (False, True):
        ours = head_probs(artifact, *torch_out[:3], calibrated=calibrated)
        theirs = head_probs(artifact, *onnx_out[:3], calibrated=calibrated)
        for name, a, b in zip(("room", "condition", "signs"), ours, theirs, strict=True):
            gap = float(np.abs(a - b).max())
            worst = max(worst, gap)
            if not gap <= tolerance:  # a NaN tolerance passes nothing
                raise ExportParityError(
                    f"ONNX Runtime and torch disagree on {name} probabilities by {gap:.2e} "
                    f"(> {tolerance:.0e}) on {how}; the export is refused. Check for ops that "
                    "export differently (e.g. custom layers) or try another backbone."
                )
    _check_embeddings(torch_out[3], onnx_out[3], tolerance=tolerance)
    return worst


def _check_embeddings(ours: np.ndarray, theirs: np.ndarray, *, tolerance: float) -> None:
    """ExportParityError when a photo's torch and ONNX Runtime embeddings point apart by more
    than `tolerance` in cosine distance (two zero vectors agree)."""
    a, b = ours.reshape(len(ours), -1).astype(np.float64), theirs.reshape(len(theirs), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = (np.abs(a).max(axis=1) == 0) & (np.abs(b).max(axis=1) == 0)
    # One zero vector and one not point nowhere alike: cosine 0, not the 1 of two zeros.
    cosine = np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0), 0.0)
    gap = float(np.where(both_zero, 0.0, 1.0 - cosine).max())
    if not gap <= tolerance:
        raise ExportParityError(
            f"ONNX Runtime and torch disagree on the embedding by a cosine distance of "
            f"{gap:.2e} (> {tolerance:.0e}); the export is refused: annotation selection "
            "would compare photos by other features than the model's. Check for ops that "
            "export differently (e.g. custom layers) or try another backbone."
        )


def _check_finite(runtime: str, outputs: list[np.ndarray], *, n_photos: int) -> None:
    """ExportNonFiniteError naming the outputs that are NaN or infinite for some photo."""
    names = ("room", "condition", "signs", "embedding")
    broken = nonfinite_rows(dict(zip(names, outputs, strict=True)))
    named = [f"{name} on {n} of {n_photos} photos" for name, n in broken.items()]
    if named:
        raise ExportNonFiniteError(
            f"{runtime} gives NaN or infinite outputs ({'; '.join(named)}); the export is "
            "refused. The weights are damaged or training diverged: train again, e.g. with a "
            "lower learning rate (optim.lr)"
        )
