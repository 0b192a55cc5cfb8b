"""The scoring engine: decoded photos in, one `PhotoScore` per photo out, via ONNX Runtime.

`Engine.load` reads a model artifact, refuses one trained on another taxonomy, picks the best
usable execution provider (vision.providers) and opens one session (vision.session). `score`
runs the photos its caller hands it (at most `max_photos_per_call` per model call) through the
shared preprocessing (vision.preprocess) and head post-processing (vision.heads) and decides
whether each photo's scores may be used (`abstain`). Grouping concurrent uploads into batches is the
service's job (serving.pipeline, configs/serving.yaml `batching`), not the engine's. Knows
nothing of families or HTTP.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from shanyraq.config import StrictModel, default_configs_dir, load_config
from shanyraq.errors import ConfigError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from vision.artifact import INPUT_NAME, ModelArtifact, check_outputs, read_artifact
from vision.explain import expect_model_pt
from vision.hashing import HashingConfig
from vision.heads import head_probs
from vision.preprocess import to_batch, to_input
from vision.providers import SHORT_NAMES, ProviderName
from vision.quality import QualityConfig, QualityVerdict
from vision.score import (
    ABSTAIN_LOW_CONFIDENCE,
    ABSTAIN_NOT_DWELLING,
    ABSTAIN_QUALITY,
    PhotoScore,
)
from vision.session import open_session

logger = logging.getLogger(__name__)


class RuntimeConfig(StrictModel):
    # No defaults here or below: configs/engine.yaml is the one source of these values, and a
    # key missing from it is an error that names the key, not a silent second value.
    providers: tuple[ProviderName, ...]
    # Strict: YAML's `true` or a quoted "2" would otherwise pass as 1 or 2 threads.
    intra_op_threads: int = Field(ge=0, strict=True, description="0 = one per core (ORT default).")
    inter_op_threads: int = Field(ge=0, strict=True)
    allow_spinning: bool = Field(description="Busy-wait between ops (CPU-hungry).")
    allow_spinning_alone: bool = Field(
        description="The same when scoring is the only work (bulk, CLI): Engine.load(alone=True).",
    )
    log_severity: int = Field(ge=0, le=4, description="ORT: 2 warning, 3 error, 4 fatal.")
    device_id: int = Field(ge=0)
    fp16: bool = Field(description="GPU only: TensorRT fp16, or model_fp16.onnx on CUDA.")
    io_binding: bool = Field(description="GPU only: inputs copied to the device once.")
    trt_cache_dir: Path | None = Field(description="TensorRT engine cache folder (null: none).")
    trt_cache_keep_unused_days: float | None = Field(
        gt=0,
        description="Days before unused engines of other models are removed (null: kept).",
    )

    @field_validator("providers")
    @classmethod
    def _no_gpu_after_cpu(cls, providers: tuple[ProviderName, ...]) -> tuple[ProviderName, ...]:
        # Tried in order and cpu always works: a provider listed after it is never tried.
        if "cpu" in providers:
            late = [name for name in providers[providers.index("cpu") + 1 :] if name != "cpu"]
            if late:
                raise ValueError(
                    f"{', '.join(late)} listed after cpu is never tried (cpu always works); "
                    "list GPU providers before cpu, e.g. [tensorrt, cuda, cpu]"
                )
        return providers


class AbstainConfig(StrictModel):
    """Below these top probabilities a photo's scores are not to be used."""

    min_room_probability: float = Field(ge=0, le=1)
    min_condition_probability: float = Field(ge=0, le=1)


# For an engine.yaml that still has the `batching` section this config once had.
_OLD_BATCHING_KEY = (
    "'batching' is no longer an engine setting: the service groups uploads by "
    "configs/serving.yaml 'batching', and the most photos Engine.score puts in one model call "
    "is now 'max_photos_per_call' (batching.max_batch cut every bulk batch into calls of that "
    "size); remove 'batching' and set 'max_photos_per_call'"
)


class EngineConfig(StrictModel):
    """configs/engine.yaml."""

    runtime: RuntimeConfig
    max_photos_per_call: int = Field(
        gt=0, description="Engine.score: most photos in one model call (callers pick the batch)."
    )
    abstain: AbstainConfig
    quality: QualityConfig
    hashing: HashingConfig
    decode_short_side_px: int = Field(
        gt=0, description="JPEGs decode at reduced scale, never below this shorter side."
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_old_batching(cls, data: Any) -> Any:
        # Refused rather than mapped: its 8 would keep cutting bulk batches into calls of 8,
        # and its max_wait_ms has no engine meaning left.
        if isinstance(data, dict) and "batching" in data:
            raise ValueError(_OLD_BATCHING_KEY)
        return data

    @model_validator(mode="after")
    def _decode_covers_quality(self) -> EngineConfig:
        # The quality gate's thresholds were measured at its working size: never upsample to it.
        if self.decode_short_side_px < self.quality.working_side_px:
            raise ValueError(
                f"decode_short_side_px ({self.decode_short_side_px}) must be at least "
                f"quality.working_side_px ({self.quality.working_side_px})"
            )
        return self

    def alone(self) -> EngineConfig:
        """This config for a process where scoring is the only work on the cores."""
        runtime = self.runtime.model_copy(
            update={"allow_spinning": self.runtime.allow_spinning_alone}
        )
        return self.model_copy(update={"runtime": runtime})

    def decode_side_for(self, model_input_px: int) -> int:
        """Shorter side to decode at so the quality gate and a model of this input size fit."""
        return max(self.decode_short_side_px, model_input_px)


def load_engine_config(path: Path | None = None) -> EngineConfig:
    """configs/engine.yaml (or `path`); ConfigError when it is missing or lacks a key."""
    path = path or default_configs_dir() / "engine.yaml"
    if not path.exists():
        raise ConfigError(
            f"{path}: file not found; the scoring engine has no built-in settings. Restore "
            "configs/engine.yaml, or copy it into the folder SHANYRAQ_CONFIGS_DIR names"
        )
    return load_config(path, EngineConfig)


@lru_cache(maxsize=1)
def get_engine_config() -> EngineConfig:
    """configs/engine.yaml, read once."""
    return load_engine_config()


class Engine:
    """One model, one ONNX Runtime session; thread-safe `score`."""

    def __init__(
        self, artifact: ModelArtifact, session: Any, *, config: EngineConfig, not_dwelling: str
    ) -> None:
        self.artifact = artifact
        self.config = config
        self._session = session
        self._not_dwelling = not_dwelling
        self.provider: str = SHORT_NAMES.get(session.get_providers()[0], "cpu")
        self.model_version: str = artifact.model_version
        self._input_dtype = (
            np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
        )
        self._io_binding = config.runtime.io_binding and self.provider != "cpu"

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        config: EngineConfig | None = None,
        taxonomy: Taxonomy | None = None,
        alone: bool = False,
    ) -> Engine:
        """Open the artifact in `folder`; ModelMismatchError when it does not fit configs/.

        `alone`: scoring is the only work in this process (bulk re-scoring, the CLI), so ONNX
        Runtime's threads may busy-wait between ops (`runtime.allow_spinning_alone`); the
        service leaves them idle for the upload threads (`runtime.allow_spinning`).
        """
        config = config or get_engine_config()
        if alone:
            config = config.alone()
        taxonomy = taxonomy or get_taxonomy()
        artifact = read_artifact(folder)
        artifact.check_taxonomy(taxonomy)
        session, plan = open_session(
            folder, config.runtime, input_size=artifact.preprocessing.size,
            max_batch=config.max_photos_per_call,
        )  # fmt: skip
        check_outputs(session, artifact)
        # Heat maps run on model.pt, read later and maybe never: they must explain the model
        # loaded now, not one copied over it in the meantime (vision.explain).
        expect_model_pt(folder)
        engine = cls(artifact, session, config=config, not_dwelling=taxonomy.not_dwelling)
        logger.info(
            "model %s loaded on %s (skipped: %s)", artifact.model_version, engine.provider,
            plan.skipped or "none",
        )  # fmt: skip
        return engine

    def run_logits(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Raw ONNX outputs for an input batch (N, 3, S, S), keyed by output name."""
        names = self.artifact.onnx_outputs
        batch = np.ascontiguousarray(batch, dtype=self._input_dtype)
        if self._io_binding:
            outputs = self._run_bound(batch, names)
        else:
            outputs = self._session.run(names, {INPUT_NAME: batch})
        return {
            name: np.asarray(out, dtype=np.float32)
            for name, out in zip(names, outputs, strict=True)
        }

    def _run_bound(self, batch: np.ndarray, names: list[str]) -> list[np.ndarray]:
        # GPU: the batch is copied to the device once and outputs come back in one copy each.
        import onnxruntime as ort

        binding = self._session.io_binding()
        device = ort.OrtValue.ortvalue_from_numpy(batch, "cuda", self.config.runtime.device_id)
        binding.bind_ortvalue_input(INPUT_NAME, device)
        for name in names:
            binding.bind_output(name, "cpu")
        self._session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())

    def score(
        self,
        images: list[np.ndarray],
        *,
        sha256s: list[str],
        quality: list[QualityVerdict | None] | None = None,
    ) -> list[PhotoScore]:
        """One PhotoScore per RGB uint8 image, in order.

        The caller chooses the batch: it goes to the model in one call, or in calls of
        `max_photos_per_call` when larger (which only bounds one call's input memory).
        """
        if len(sha256s) != len(images):
            raise ValueError(f"{len(images)} images but {len(sha256s)} sha256s")
        verdicts: list[QualityVerdict | None] = (
            list(quality) if quality is not None else [None] * len(images)
        )
        if len(verdicts) != len(images):
            raise ValueError(f"{len(images)} images but {len(verdicts)} quality verdicts")
        scores: list[PhotoScore] = []
        step = self.config.max_photos_per_call
        for start in range(0, len(images), step):
            stop = start + step
            scores += self._score_chunk(
                images[start:stop], sha256s[start:stop], verdicts[start:stop]
            )
        return scores

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One decoded photo to this model's input tensor (3, S, S); thread-safe, no model call.

        Callers that preprocess in their own threads (the upload pipeline) then hand batches of
        these to `score_inputs`, so the serialised model call does no resizing.
        """
        return to_input(image, self.artifact.preprocessing)

    def score_inputs(
        self,
        inputs: np.ndarray,
        *,
        sha256s: list[str],
        quality: list[QualityVerdict | None] | None = None,
    ) -> list[PhotoScore]:
        """PhotoScores for a batch already made by `prepare` (N, 3, S, S), in one model call."""
        verdicts: list[QualityVerdict | None] = (
            list(quality) if quality is not None else [None] * len(sha256s)
        )
        if not len(inputs) == len(sha256s) == len(verdicts):
            raise ValueError(
                f"{len(inputs)} inputs, {len(sha256s)} sha256s, {len(verdicts)} verdicts"
            )
        if not sha256s:
            return []
        return self._scores(self.run_logits(inputs), sha256s, verdicts)

    def _score_chunk(
        self, images: list[np.ndarray], sha256s: list[str], verdicts: list[QualityVerdict | None]
    ) -> list[PhotoScore]:
        return self._scores(
            self.run_logits(to_batch(images, self.artifact.preprocessing)), sha256s, verdicts
        )

    def _scores(
        self,
        outs: dict[str, np.ndarray],
        sha256s: list[str],
        verdicts: list[QualityVerdict | None],
    ) -> list[PhotoScore]:
        return scores_from_outputs(
            self.artifact, outs, sha256s=sha256s, verdicts=verdicts,
            abstain=self.config.abstain, not_dwelling=self._not_dwelling,
        )  # fmt: skip


def scores_from_outputs(
    artifact: ModelArtifact,
    outputs: dict[str, np.ndarray],
    *,
    sha256s: list[str],
    verdicts: list[QualityVerdict | None],
    abstain: AbstainConfig,
    not_dwelling: str,
) -> list[PhotoScore]:
    """PhotoScores from raw ONNX outputs (CPU or GPU path): calibrated heads + abstain rule."""
    names, labels = artifact.onnx_outputs, artifact.labels
    if not sha256s:
        return []
    room, condition, signs = head_probs(artifact, *(outputs[n] for n in names[:3]))
    scores = []
    for i, sha256 in enumerate(sha256s):
        room_i = dict(zip(labels.room, map(float, room[i]), strict=True))
        condition_i = dict(zip(labels.condition, map(float, condition[i]), strict=True))
        signs_i = dict(zip(labels.signs, map(float, signs[i]), strict=True))
        reasons = abstain_reasons(
            room_i, condition_i, verdicts[i], abstain=abstain, not_dwelling=not_dwelling,
            signs=signs_i,
        )  # fmt: skip
        scores.append(
            PhotoScore(
                photo_sha256=sha256,
                model_version=artifact.model_version,
                room=room_i,
                condition=condition_i,
                signs=signs_i,
                embedding=outputs[names[3]][i].copy(),
                abstain=bool(reasons),
                abstain_reasons=reasons,
            )
        )
    return scores


def abstain_reasons(
    room: dict[str, float],
    condition: dict[int, float],
    verdict: QualityVerdict | None,
    *,
    abstain: AbstainConfig,
    not_dwelling: str,
    signs: Mapping[str, float] | None = None,
) -> tuple[str, ...]:
    """Why a photo's scores must not be used (empty when they may).

    A probability that is not a number (NaN or infinite: an fp16 overflow on the GPU, a broken
    model) makes every threshold comparison false, so it counts as low confidence.
    """
    reasons: list[str] = []
    if verdict is not None and verdict.status == "fail":
        reasons.append(ABSTAIN_QUALITY)
    values = [*room.values(), *condition.values(), *(signs or {}).values()]
    finite = all(math.isfinite(p) for p in values)
    top_room = max(room, key=lambda k: room[k])
    low_room = not finite or room[top_room] < abstain.min_room_probability
    if not low_room and room.get(not_dwelling) == room[top_room]:
        # A sure room tied with not_dwelling (0.5/0.5 at the shipped 0.5) is no sure home:
        # the label order must not decide it.
        top_room = not_dwelling
    if finite and top_room == not_dwelling:
        reasons.append(ABSTAIN_NOT_DWELLING)
    low_condition = (
        top_room != not_dwelling and max(condition.values()) < abstain.min_condition_probability
    )
    if low_room or low_condition:
        reasons.append(ABSTAIN_LOW_CONFIDENCE)
    return tuple(reasons)
