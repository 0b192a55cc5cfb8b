"""The model artifact contract: a folder with model.onnx, model.pt and model.json.

`model.json` is the contract every consumer (engine, evaluation, annotation) rebuilds
preprocessing and labels from; none keeps its own copy. Serving refuses an artifact whose
taxonomy differs from configs/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import Taxonomy

ARTIFACT_FORMAT = 1
ONNX_FILE, TORCH_FILE, META_FILE = "model.onnx", "model.pt", "model.json"


class Preprocessing(BaseModel):
    """How pixels become the model's input tensor (NCHW float32)."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(gt=0, description="Square input side in pixels.")
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: Literal["squash", "shorter_side_crop", "letterbox"] = "squash"
    interpolation: Literal["bilinear", "bicubic", "area"] = "bilinear"


class Temperatures(BaseModel):
    """Calibration temperatures per head (1.0 = uncalibrated)."""

    model_config = ConfigDict(extra="forbid")

    room: float = Field(1.0, gt=0)
    condition: float = Field(1.0, gt=0)
    signs: float = Field(1.0, gt=0)


class Biases(BaseModel):
    """Calibration offsets added to a head's logits after dividing by its temperature.

    room: one per room label; condition: one per cumulative logit (coral, K-1) or per grade
    (softmax). Empty means none (artifacts calibrated by temperature alone).
    """

    model_config = ConfigDict(extra="forbid")

    room: list[float] = []
    condition: list[float] = []


class Labels(BaseModel):
    """The labels in head order, copied from the taxonomy at training time."""

    model_config = ConfigDict(extra="forbid")

    room: list[str]
    condition: list[int]
    signs: list[str]


class ModelArtifact(BaseModel):
    """Everything in model.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format: int = ARTIFACT_FORMAT
    model_version: str  # e.g. "demo-mnv3-20261123-ab12cd34"
    backbone: str
    taxonomy_version: int
    taxonomy_fingerprint: str
    labels: Labels
    condition_formulation: Literal["coral", "softmax"]
    preprocessing: Preprocessing
    temperatures: Temperatures = Temperatures()
    biases: Biases = Biases()
    embedding_dim: int = Field(gt=0)
    # ONNX graph outputs, in order; logits are raw (before temperature and activation).
    onnx_outputs: list[str] = ["room_logits", "condition_logits", "signs_logits", "embedding"]
    metrics: dict[str, Any] = {}
    training_data_sha256: str = ""
    training_config: dict[str, Any] = {}
    code_version: str = ""
    created_at: str = ""

    @model_validator(mode="after")
    def _biases_fit_the_heads(self) -> ModelArtifact:
        grades = len(self.labels.condition)
        expected = {
            "room": len(self.labels.room),
            "condition": grades - 1 if self.condition_formulation == "coral" else grades,
        }
        for head, size in expected.items():
            got = len(getattr(self.biases, head))
            if got not in (0, size):
                raise ValueError(f"biases.{head} has {got} values, the {head} head has {size}")
        return self

    def check_taxonomy(self, taxonomy: Taxonomy) -> None:
        """Raise ModelMismatchError unless this model was trained on `taxonomy`."""
        if (
            self.taxonomy_version != taxonomy.version
            or self.taxonomy_fingerprint != taxonomy.fingerprint()
        ):
            raise ModelMismatchError(
                f"model {self.model_version} was trained on taxonomy version "
                f"{self.taxonomy_version} ({self.taxonomy_fingerprint[:12]}), but configs/ holds "
                f"version {taxonomy.version} ({taxonomy.fingerprint()[:12]}); retrain or export "
                "the model against the current taxonomy"
            )


def read_artifact(folder: Path) -> ModelArtifact:
    path = folder / META_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelMismatchError(f"{folder} is not a model artifact: {META_FILE} missing") from None
    except json.JSONDecodeError as exc:
        raise ModelMismatchError(f"{path}: not valid JSON ({exc})") from None
    if data.get("format") != ARTIFACT_FORMAT:
        raise ModelMismatchError(
            f"{path}: artifact format {data.get('format')!r}, this code reads {ARTIFACT_FORMAT}"
        )
    return ModelArtifact.model_validate(data)


def write_artifact(folder: Path, artifact: ModelArtifact) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / META_FILE
    tmp = path.with_name(META_FILE + ".tmp")
    tmp.write_text(artifact.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return path
