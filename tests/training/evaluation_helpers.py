"""A fixed predictor evaluated on the toy manifest's test split, for the model card tests."""

from __future__ import annotations

from shanyraq.manifest import read_manifest
from training.evaluate import evaluate

from .fixed_model import fixed_predictor


def toy_evaluation(toy_manifest, taxonomy):
    """(artifact, metrics) of a fixed predictor evaluated on the toy manifest's test split."""
    manifest = read_manifest(toy_manifest)
    artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)
    metrics = evaluate(predict, artifact, root=manifest.root, test_rows=manifest.by_split("test"),
                       taxonomy=taxonomy, with_robustness=False)  # fmt: skip
    return artifact, metrics
