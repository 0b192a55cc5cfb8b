"""What an engine's scores depend on besides the model version, for caches of scores to be
keyed by (welfare.real_score_cache, annotation.pool): a score cached under one of these is
reused only where the engine would compute the same numbers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shanyraq.manifest import sha256_file
from vision.artifact import FP16_ONNX_FILE, ONNX_FILE

if TYPE_CHECKING:
    from vision.engine import Engine

# What in model.json turns the graph's outputs into scores, or pixels into its input.
SCORING_FIELDS = {
    "preprocessing", "temperatures", "biases", "labels", "condition_formulation", "onnx_outputs",
}  # fmt: skip


def scoring_identity(engine: Engine, model_dir: Path | None) -> dict[str, Any]:
    """What the engine computes scores with besides the model version: the ONNX Runtime version
    (its kernels and graph optimisations change between releases), the execution provider (GPU
    kernels round otherwise than the CPU's), fp16 where a GPU provider uses it, model.json's
    preprocessing, calibration and labels, and, given the folder, the digest of the graph file
    the session opened (model_fp16.onnx on CUDA with fp16 where there is one, as
    vision.session picks it), and OpenCV's version (vision.preprocess resizes every photo to the
    model's input with it; its resampling code changes between releases). Thread counts,
    batching and logging change no score: left out."""
    import cv2
    import onnxruntime

    on_gpu = engine.provider != "cpu"
    fp16 = bool(engine.config.runtime.fp16) and on_gpu
    identity: dict[str, Any] = {
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "provider": engine.provider,
        "fp16": fp16,
        "artifact": engine.artifact.model_dump(mode="json", include=SCORING_FIELDS),
    }
    if model_dir is not None:
        graph = Path(model_dir) / ONNX_FILE
        if engine.provider == "cuda" and fp16 and (Path(model_dir) / FP16_ONNX_FILE).exists():
            graph = Path(model_dir) / FP16_ONNX_FILE
        identity["graph_sha256"] = sha256_file(graph)
    return identity


def scoring_digest(engine: Engine, model_dir: Path | None, *, length: int = 12) -> str:
    """A short fingerprint of `scoring_identity`, for a file name."""
    identity = scoring_identity(engine, model_dir)
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:length]
