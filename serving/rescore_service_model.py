"""The service's own photo model is the one a promotion adopts the scores of.

`rescore promote` (serving/promote.py) adopts the re-scores of model M only when M fits the
taxonomy in configs/ and the service itself scores new uploads with M, its model.json and
exported graphs alike: else the record would mix models from then on. Split from
serving/promote.py; the promotion's checks (serving/promote_plan.py `plan`) call
`checked_model`.
"""

from __future__ import annotations

from pathlib import Path

from serving.rescore_provenance import scoring_files
from shanyraq.errors import ShanyraqError
from shanyraq.taxonomy import get_taxonomy
from vision.artifact import META_FILE, read_artifact

# What model.json says that changes a photo's score (vision.engine reads it): the service's
# copy of M must say the same as the M that is promoted.
SCORING_FIELDS = ("preprocessing", "condition_formulation", "temperatures", "biases")


class ServingModelMismatchError(ShanyraqError):
    code = "serving_model_mismatch"


def checked_model(model_dir: Path, serving_model_dir: Path | None) -> str:
    """M's version, once M fits configs/ and the service scores new uploads with M."""
    model = read_artifact(model_dir)
    model.check_taxonomy(get_taxonomy())  # ModelMismatchError, code model_mismatch
    fix = (
        f"set model_dir in serving.yaml (or SHANYRAQ_SERVING__MODEL_DIR) to {model_dir}, "
        "restart the service, then promote"
    )
    if serving_model_dir is None:
        raise ServingModelMismatchError(
            f"the service has no photo model (model_dir is empty), so new uploads would go "
            f"unscored beside photos scored by {model.model_version}; {fix}"
        )
    serving_model = read_artifact(serving_model_dir)
    serving = serving_model.model_version
    if serving != model.model_version:
        raise ServingModelMismatchError(
            f"the service scores new uploads with {serving} (model_dir {serving_model_dir}), "
            f"not {model.model_version}: the photos would then mix two models; {fix}"
        )
    # The version digests the weights and calibration of training, not what model.json says
    # about pixels: a copy re-exported or edited under the same version scores otherwise.
    differs = [
        name for name in SCORING_FIELDS if getattr(serving_model, name) != getattr(model, name)
    ]
    if differs:
        raise ServingModelMismatchError(
            f"the service's model_dir {serving_model_dir} holds {serving} with other "
            f"{', '.join(differs)} in model.json than {model_dir}: new uploads would be scored "
            f"otherwise than the re-scores under the same version; {fix}"
        )
    # Nor the exported graphs: one replaced or re-exported under the version scores otherwise.
    ours, theirs = scoring_files(model_dir), scoring_files(serving_model_dir)
    graphs = sorted(
        n for n in ours.keys() | theirs.keys() if n != META_FILE and ours.get(n) != theirs.get(n)
    )
    if graphs:
        raise ServingModelMismatchError(
            f"the service's model_dir {serving_model_dir} holds {serving} with another "
            f"{', '.join(graphs)} than {model_dir}: new uploads would be scored otherwise than "
            f"the re-scores under the same version; {fix}"
        )
    return model.model_version
