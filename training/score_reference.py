"""What the model's scores look like on its test photos: the drift report's training reference.

The service's drift report (serving.reports.drift) compares the room and grade distributions
of the photos it scores with those of the data the model was trained for. A model artifact
carries them as `metrics.score_reference`: the test photos (held-out families of the training
data) scored as the engine scores a photo (calibrated heads, its abstain rule:
vision.engine.scores_from_outputs) and summed up as the report sums up the service's photos
(vision.score.score_shares), so the two sides are counted one way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.calibrate import HeadLogits
from vision.artifact import ModelArtifact
from vision.engine import get_engine_config, scores_from_outputs
from vision.heads import nonfinite_mask
from vision.score import score_shares


def score_reference(
    logits: HeadLogits, artifact: ModelArtifact, *, not_dwelling: str, split: str
) -> dict[str, Any]:
    """Per head (room, condition) the share of each value on these photos; `photos` how many
    each head counted, `split` which photos they were (test, or validation without one).

    A photo with a NaN or infinite score in any head is left out (a -inf logit still gives
    finite shares, +inf a RuntimeWarning and NaN), as training.calibrate.finite_only leaves it
    out of the test figures; `nonfinite` counts such photos per head, as those figures do."""
    heads = ("room", "condition", "signs")
    broken = {head: nonfinite_mask(getattr(logits, head)) for head in heads}
    kept = ~np.logical_or.reduce(list(broken.values()))
    n = int(kept.sum())
    names = artifact.onnx_outputs
    outputs = {
        names[0]: logits.room[kept], names[1]: logits.condition[kept], names[2]: logits.signs[kept],
        names[3]: np.zeros((n, 0), dtype=np.float32),  # no embedding is needed to count
    }  # fmt: skip
    scores = scores_from_outputs(
        artifact, outputs, sha256s=[""] * n, verdicts=[None] * n,
        abstain=get_engine_config().abstain, not_dwelling=not_dwelling,
    )  # fmt: skip
    shares = score_shares(scores)
    return {
        "room": shares["room"]["shares"],
        "condition": shares["condition"]["shares"],
        "photos": {head: found["photos"] for head, found in shares.items()},
        "nonfinite": {head: int(mask.sum()) for head, mask in broken.items()},
        "split": split,
    }
