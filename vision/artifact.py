"""The model artifact contract: a folder with model.onnx, model.pt and model.json.

`model.json` is the contract every consumer (engine, evaluation, annotation) rebuilds
preprocessing and labels from; none keeps its own copy. Loading refuses, with one
ModelMismatchError that names the file and what is wrong, a model.json that cannot be read,
is too large to be one, is not JSON, gives a key twice or is not this schema (read strictly:
a hand edit's "1" or true for 1, or a NaN or Infinity, is refused, not coerced), an artifact
whose taxonomy or label lists differ from configs/, and a model.onnx that is missing or that
ONNX Runtime cannot load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shanyraq.atomic import TEMP_SUFFIX, atomic_file
from shanyraq.errors import ModelMismatchError, read_text
from shanyraq.json_values import KeyGivenTwiceError, pairs_once
from shanyraq.taxonomy import Taxonomy

ARTIFACT_FORMAT = 1
ONNX_FILE, TORCH_FILE, META_FILE = "model.onnx", "model.pt", "model.json"
FP16_ONNX_FILE = "model_fp16.onnx"  # optional half-precision copy, used on GPU when asked
INPUT_NAME = "pixels"  # the graphs' one input: N x 3 x S x S float32 (vision/export.py)
CARD_FILE = "MODEL_CARD.md"  # written beside the model by a build (training.build)
# Every name an artifact folder may hold (META_FILE + TEMP_SUFFIX: write_artifact's temporary
# file, left only by a process killed mid-write).
ARTIFACT_FILES = frozenset(
    {META_FILE, ONNX_FILE, TORCH_FILE, FP16_ONNX_FILE, CARD_FILE, META_FILE + TEMP_SUFFIX}
)
_REEXPORT = "export the model again (shanyraq export RUN)"
# A model.json is a few kB (metrics and the training config are its largest parts); a file far
# past that is some other file, not read into memory to find out.
MAX_META_BYTES = 16 * 1024 * 1024


_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Preprocessing(BaseModel):
    """How pixels become the model's input tensor (NCHW float32)."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(gt=0, description="Square input side in pixels.")
    # Refused at load rather than turned into inputs of inf or NaN, which a model scores
    # without complaint (vision.preprocess.scaling checks again, for specs built in code).
    mean: tuple[_Finite, _Finite, _Finite]
    std: tuple[_Positive, _Positive, _Positive]
    resize: Literal["squash", "shorter_side_crop", "letterbox"] = "squash"
    interpolation: Literal["bilinear", "bicubic", "area"] = "bilinear"


class Temperatures(BaseModel):
    """Calibration temperatures per head (1.0 = uncalibrated)."""

    model_config = ConfigDict(extra="forbid")

    # Finite: JSON has no infinity, so one would be written as null and fail only when read.
    room: _Positive = 1.0
    condition: _Positive = 1.0
    signs: _Positive = 1.0


class Biases(BaseModel):
    """Calibration offsets added to a head's logits after dividing by its temperature.

    room: one per room label; condition: one per cumulative logit (coral, K-1) or per grade
    (softmax). Empty means none (artifacts calibrated by temperature alone).
    """

    model_config = ConfigDict(extra="forbid")

    room: list[_Finite] = []
    condition: list[_Finite] = []


class Labels(BaseModel):
    """The labels in head order, copied from the taxonomy at training time."""

    model_config = ConfigDict(extra="forbid")

    room: list[str]
    condition: list[int]
    signs: list[str]

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> Labels:
        return cls(
            room=taxonomy.room_names,
            condition=taxonomy.condition_values,
            signs=taxonomy.sign_names,
        )


class ModelArtifact(BaseModel):
    """Everything in model.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format: int = ARTIFACT_FORMAT
    model_version: str = Field(min_length=1)  # e.g. "demo-mnv3-20261123-ab12cd34"
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
    onnx_outputs: list[str] = Field(
        ["room_logits", "condition_logits", "signs_logits", "embedding"],
        min_length=4,
        max_length=4,
    )
    metrics: dict[str, Any] = {}
    training_data_sha256: str = ""
    training_config: dict[str, Any] = {}
    code_version: str = ""
    created_at: str = ""
    # What wrote the graph: torch, onnx, onnxruntime versions and the opset (vision.export);
    # empty in artifacts exported before it was recorded.
    exported_with: dict[str, str | int] = {}

    @model_validator(mode="after")
    def _outputs_differ(self) -> ModelArtifact:
        if len(set(self.onnx_outputs)) != len(self.onnx_outputs):
            raise ValueError(f"onnx_outputs names one output twice: {self.onnx_outputs}")
        return self

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
        expected = Labels.of(taxonomy)
        for head in ("room", "condition", "signs"):
            ours, theirs = getattr(self.labels, head), getattr(expected, head)
            if ours != theirs:
                raise ModelMismatchError(
                    f"model {self.model_version}: model.json lists the {head} labels {ours}, "
                    f"but configs/taxonomy.yaml (version {taxonomy.version}) has {theirs}; "
                    f"model.json was edited or does not belong to this model: {_REEXPORT}"
                )


def read_artifact(folder: Path) -> ModelArtifact:
    """The metadata in `folder`/model.json; ModelMismatchError, naming the file and what is
    wrong, for anything else (no folder, a file, unreadable, not JSON, not this schema)."""
    path = folder / META_FILE
    if folder.exists() and not folder.is_dir():
        raise ModelMismatchError(
            f"{folder} is a file, not a model artifact folder ({META_FILE}, {ONNX_FILE}, "
            f"{TORCH_FILE}); give the folder the model was exported to"
        )
    if not path.exists():
        raise ModelMismatchError(f"{folder} is not a model artifact: {META_FILE} missing")
    size = path.stat().st_size if path.is_file() else 0
    if size > MAX_META_BYTES:
        raise ModelMismatchError(
            f"{path} is {size} bytes, more than a model.json's {MAX_META_BYTES}; give the "
            "folder the model was exported to, or export it again (shanyraq export RUN)"
        )
    text = read_text(path, ModelMismatchError, f"; {_REEXPORT}")
    try:
        data = json.loads(text, object_pairs_hook=pairs_once)
    except json.JSONDecodeError as exc:
        raise ModelMismatchError(f"{path}: not valid JSON ({exc}); {_REEXPORT}") from None
    except KeyGivenTwiceError as exc:
        raise ModelMismatchError(f"{path}: {exc}; keep one of them or {_REEXPORT}") from None
    if not isinstance(data, dict):
        raise ModelMismatchError(
            f"{path}: holds a JSON {type(data).__name__}, not a model's metadata; {_REEXPORT}"
        )
    if data.get("format") != ARTIFACT_FORMAT or isinstance(data.get("format"), bool):
        raise ModelMismatchError(
            f"{path}: artifact format {data.get('format')!r}, this code reads {ARTIFACT_FORMAT}"
        )
    try:
        # Validated from the text, strictly: JSON mode takes an array for a tuple (mean, std)
        # and a whole number for a float, and nothing else that is not its type.
        return ModelArtifact.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise ModelMismatchError(
            f"{path} is not a valid model.json: {_problems(exc)}; {_REEXPORT}"
        ) from None


def _problems(error: ValidationError, *, most: int = 3) -> str:
    """The first few problems on one line: "key 'preprocessing': Field required; ..."."""
    found = error.errors()
    text = "; ".join(
        f"key '{'.'.join(str(part) for part in p['loc']) or '(top level)'}': {p['msg']}"
        for p in found[:most]
    )
    return text + (f" (and {len(found) - most} more)" if len(found) > most else "")


# What ONNX Runtime raises for a file it cannot read as a model (a provider that fails to
# start raises others, which are not the artifact's fault and are left alone).
_ORT_LOAD_ERRORS = (
    "Fail",
    "InvalidArgument",
    "InvalidGraph",
    "InvalidProtobuf",
    "NoModel",
    "NoSuchFile",
    "NotImplemented",
)


def onnx_file(folder: Path, name: str = ONNX_FILE) -> Path:
    """`folder`/`name`, or ModelMismatchError when the artifact has no such graph."""
    path = folder / name
    if not path.exists():
        raise ModelMismatchError(f"{folder} has no {name}; export the model first")
    return path


def open_onnx(
    path: Path,
    *,
    sess_options: Any,
    providers: list[str],
    provider_options: list[dict[str, Any]] | None = None,
) -> Any:
    """An ONNX Runtime session on an artifact's graph (model.onnx or its fp16 copy);
    ModelMismatchError when the file is missing or ONNX Runtime cannot load it. Created under
    the build lock of the TensorRT engine cache folders the options name (one process builds
    an engine, the others wait and load it: vision.trt_cache.engine_build_lock)."""
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    from vision.trt_folders import engine_build_lock

    onnx_file(path.parent, path.name)
    unreadable = tuple(getattr(ort_state, name) for name in _ORT_LOAD_ERRORS)
    try:
        with engine_build_lock(provider_options or []):
            return ort.InferenceSession(
                str(path),
                sess_options=sess_options,
                providers=providers,
                provider_options=provider_options,
            )
    except unreadable as exc:
        why = str(exc).rsplit("failed:", 1)[-1].strip().rstrip(".")[:300]
        raise ModelMismatchError(f"ONNX Runtime cannot load {path}: {why}; {_REEXPORT}") from None


def check_outputs(session: Any, artifact: ModelArtifact) -> None:
    """The graph must have the outputs model.json names, with its label counts."""
    outputs = {o.name: o.shape for o in session.get_outputs()}
    labels = artifact.labels
    k = len(labels.condition)
    expected = {
        artifact.onnx_outputs[0]: {len(labels.room)},
        artifact.onnx_outputs[1]: {k - 1} if artifact.condition_formulation == "coral" else {k},
        artifact.onnx_outputs[2]: {len(labels.signs)},
        artifact.onnx_outputs[3]: {artifact.embedding_dim},
    }
    for name, sizes in expected.items():
        if name not in outputs:
            raise ModelMismatchError(
                f"model.onnx has no output {name!r} (has {sorted(outputs)}); re-export the model"
            )
        width = outputs[name][-1]
        if isinstance(width, int) and width not in sizes:
            raise ModelMismatchError(
                f"model.onnx output {name!r} has {width} values, model.json implies "
                f"{sorted(sizes)}; the artifact's files do not belong together, re-export it"
            )


def write_artifact(folder: Path, artifact: ModelArtifact) -> Path:
    path = folder / META_FILE
    with atomic_file(path) as tmp:
        tmp.write_text(artifact.model_dump_json(indent=2), encoding="utf-8")
    return path
