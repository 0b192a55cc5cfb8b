"""A model artifact with a predictor that always gives the same answer: room 0, grade 3 and
every sign at `sign_logit` (its figures follow from the labels alone)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shanyraq.taxonomy import Taxonomy


def fixed_predictor(
    taxonomy: Taxonomy, *, sign_logit: float
) -> tuple[Any, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    from training.validation import provisional_artifact
    from vision.artifact import Preprocessing
    from vision.model import create_model

    spec = Preprocessing(size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    artifact = provisional_artifact(
        create_model("shanyraq_test", taxonomy=taxonomy, condition_formulation="softmax"),
        spec, variant="shanyraq_test", taxonomy=taxonomy,
    )  # fmt: skip
    r, k, s = (taxonomy.head_size(h) for h in ("room", "condition", "signs"))

    def predict(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = batch.shape[0]
        room, grade = np.tile(np.eye(r)[0] * 9, (n, 1)), np.tile(np.eye(k)[2] * 9, (n, 1))
        return room, grade, np.full((n, s), sign_logit)

    return artifact, predict
