"""Validation during training: the validation photos decoded once (before the run folder is
touched, so an unreadable one is refused up front), measured after every epoch with a
provisional artifact, and the score that early stopping and best.pt follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shanyraq.manifest import ManifestRow
from shanyraq.taxonomy import Taxonomy
from training.evaluate import head_metrics
from training.logits import collect_logits, load_images, torch_predictor
from vision.artifact import ModelArtifact, Preprocessing
from vision.export import ExportRequest, build_metadata
from vision.model import ShanyraqNet


def provisional_artifact(
    model: ShanyraqNet, spec: Preprocessing, *, variant: str, taxonomy: Taxonomy
) -> ModelArtifact:
    """Metadata for measuring a model before export (uncalibrated temperatures)."""
    request = ExportRequest(variant=variant, preprocessing=spec, model_version="in-training")
    return build_metadata(model, request, taxonomy=taxonomy)


def validation_score(metrics: dict[str, Any]) -> float:
    """Mean of room macro-F1, condition QWK and signs mAP: the early-stopping metric."""
    values = [metrics["room"]["macro_f1"], metrics["condition"].get("qwk"), metrics["signs"]["map"]]
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else 0.0


@dataclass(frozen=True)
class Validation:
    """Validation photos decoded once, measured after every epoch."""

    images: list[np.ndarray]
    rows: list[Any]
    artifact: ModelArtifact

    @classmethod
    def of(
        cls,
        rows: Sequence[ManifestRow],
        root: Path,
        model: ShanyraqNet,
        spec: Preprocessing,
        *,
        variant: str,
        taxonomy: Taxonomy,
    ) -> Validation:
        """The photos of `rows`, decoded now, and a provisional artifact of `model`."""
        artifact = provisional_artifact(model, spec, variant=variant, taxonomy=taxonomy)
        return cls(load_images(rows, root, spec), list(rows), artifact)

    def measure(self, model: ShanyraqNet, *, taxonomy: Taxonomy, batch_size: int) -> dict:
        logits = collect_logits(
            torch_predictor(model),
            self.images,
            self.rows,
            spec=self.artifact.preprocessing,
            taxonomy=taxonomy,
            batch_size=batch_size,
        )
        return head_metrics(logits, self.artifact, not_dwelling=taxonomy.not_dwelling)
