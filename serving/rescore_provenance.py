"""What a re-scoring run's scores depend on besides the model version (`RunProvenance`).

The scorer path with the ONNX Runtime provider it really ran on (`scorer_record`), the engine
settings that change scores (`engine_digest`), the code version and the model's files that the
engine may load (`artifact_digest`: a copy edited under the same version scores otherwise).
serving.rescore_runs compares them when a run would go on, the promotion's checks
(serving.promote_plan) the recorded files with the folder it promotes. Split from rescore_runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from serving.db.models import RescoreRun
    from vision.bulk import BytesScorer
    from vision.engine import EngineConfig

logger = logging.getLogger(__name__)


# The engine settings (configs/engine.yaml, vision.engine.EngineConfig) that change what a
# re-score records: the abstention thresholds, and which ONNX Runtime provider runs the model
# and in what precision (TensorRT fp16 and CUDA fp32 give other numbers than the CPU). Not
# the rest: thread counts, spinning, log level, device id, I/O binding, the TensorRT cache
# folder and max_photos_per_call change speed only; the quality gate and the hashes do not
# run (a re-score keeps the upload's quality verdict). The decode size the scorer really
# uses is digested beside these (`RunProvenance.for_path`).
SCORE_SETTINGS: dict[str, Any] = {"abstain": True, "runtime": {"providers", "fp16"}}


def engine_digest(*, decode_short_side: int | None, engine_config: EngineConfig | None) -> str:
    """First 16 hex of the sha256 of the SCORE_SETTINGS of `engine_config` (default:
    configs/engine.yaml) and the decode size, as canonical JSON."""
    from vision.engine import get_engine_config

    config = engine_config or get_engine_config()
    settings = {
        "engine": config.model_dump(mode="json", include=SCORE_SETTINGS),
        "decode_short_side_px": decode_short_side,
    }
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def scorer_record(path: str, provider: str | None) -> str:
    """What a run records as its scorer: the path and the ONNX Runtime provider that really ran
    the model, as "gpu/tensorrt", "gpu/cuda" or "cpu/cuda" (TensorRT in fp16, CUDA and the CPU
    give other numbers, and the configured providers are only tried in order); the CPU path on
    the CPU provider is "cpu", as runs recorded it before. `provider` None: not known (a Ray
    driver, before its actors open their scorers), the path alone."""
    return path if provider is None or provider == path else f"{path}/{provider}"


def scorer_path(record: str) -> str:
    """The path of a `scorer_record` ("gpu" of "gpu/cuda"), as --device names it."""
    return record.split("/", 1)[0]


def provider_of(scorer: object) -> str | None:
    """The ONNX Runtime provider `scorer`'s model runs on, by its short name (cpu, cuda,
    tensorrt); None when the scorer does not say (a stand-in in tests)."""
    from vision.providers import SHORT_NAMES

    provider = getattr(scorer, "provider", None) or getattr(
        getattr(scorer, "engine", None), "provider", None
    )
    return SHORT_NAMES.get(provider, provider) if isinstance(provider, str) else None


def provider_known(record: str) -> bool:
    """Whether a `scorer_record` names its provider: "cpu" does (the CPU path on the CPU
    provider), "gpu" alone does not."""
    return record == "cpu" or "/" in record


def same_scorer(recorded: str, now: str) -> bool:
    """Whether a run that recorded scorer `recorded` goes on as `now`: the same record; or the
    same path where `now` does not know its provider yet (the Ray driver on the GPU path: its
    actors check the provider they run on against the record, serving.rescore_ray_actor)."""
    return recorded == now or (not provider_known(now) and scorer_path(recorded) == now)


def scoring_files(model_dir: Path) -> dict[str, str]:
    """The sha256 (vision.trt_cache.file_sha256, which keys a graph's TensorRT cache) of each
    file of the artifact that the engine may load to score: model.json and model.onnx always,
    and model_fp16.onnx where there is one (vision.engine loads it on CUDA with fp16). Not
    model.pt (heat maps only) nor the model card."""
    from vision.artifact import FP16_ONNX_FILE, META_FILE, ONNX_FILE
    from vision.trt_cache import file_sha256

    names = [ONNX_FILE, META_FILE]
    if (model_dir / FP16_ONNX_FILE).exists():
        names.append(FP16_ONNX_FILE)
    return {name: file_sha256(model_dir / name) for name in names}


def artifact_digest(model_dir: Path) -> str:
    """First 16 hex of the sha256 over `scoring_files`, as canonical JSON. Without an fp16
    graph it is the digest runs recorded before model_fp16.onnx was covered, so theirs match."""
    canonical = json.dumps(scoring_files(model_dir), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunProvenance:
    """What a run's scores depend on besides the model version; one run keeps one."""

    scorer: str  # the scorer's path and provider (`scorer_record`): cpu, gpu/tensorrt, ...
    engine_config: str  # digest of the SCORE_SETTINGS of configs/engine.yaml and decode size
    code_version: str  # shanyraq.provenance.code_version
    # artifact_digest of the model folder; None: not known (no folder given, a run from
    # before migration 0009), and then not compared.
    model_artifact: str | None = None

    # In words, for the refusal: (what it is, how to resume under the recorded one).
    WORDS: ClassVar[dict[str, tuple[str, str]]] = {
        "scorer": ("scorer path", "--device {path}{provider}"),
        "engine_config": ("engine settings digest", "configs/engine.yaml as it was then"),
        "code_version": ("code version", "the code of that version"),
        "model_artifact": (
            "model artifact digest (model.onnx, model.json)",
            "the model folder's files as they were: model.onnx, model.json, and "
            "model_fp16.onnx where there was one",
        ),
    }

    @classmethod
    def of(
        cls,
        scorer: BytesScorer,
        engine_config: EngineConfig | None = None,
        *,
        model_dir: Path | None = None,
    ) -> RunProvenance:
        """The provenance of scores from `scorer` under `engine_config` (default: configs/),
        with the model's files in `model_dir` (None: not known), and the ONNX Runtime provider
        the scorer really runs on (`scorer_record`)."""
        # The CPU scorer decodes JPEGs reduced to `decode_short_side` px; None: full size.
        decode = getattr(scorer, "decode_short_side", None)
        return cls.for_path(
            scorer_record(scorer.name, provider_of(scorer)), decode_short_side=decode,
            engine_config=engine_config, model_dir=model_dir,
        )  # fmt: skip

    @classmethod
    def for_path(
        cls,
        scorer: str,
        *,
        decode_short_side: int | None,
        engine_config: EngineConfig | None = None,
        model_dir: Path | None = None,
    ) -> RunProvenance:
        """The provenance of scores from the `scorer` path (a `scorer_record`) decoding at
        `decode_short_side` px (None: full size) under `engine_config` (default: configs/),
        with the model's files in `model_dir` (None: not known)."""
        from shanyraq.provenance import code_version

        digest = engine_digest(decode_short_side=decode_short_side, engine_config=engine_config)
        artifact = artifact_digest(model_dir) if model_dir is not None else None
        return cls(scorer, digest, code_version(), artifact)

    @classmethod
    def recorded(cls, run: RescoreRun) -> RunProvenance | None:
        """The run's record; None for a run started before it was recorded (migration 0006)."""
        if run.scorer and run.engine_config and run.code_version:
            return cls(run.scorer, run.engine_config, run.code_version, run.model_artifact)
        return None

    def differences(self, run: RescoreRun, *, hints: bool = True) -> list[str]:
        """What differs from the run's record, in words (with how to resume as it was). What
        the run did not record (the model artifact before migration 0009) is not compared, nor
        the provider where this one does not know it yet (`same_scorer`)."""
        out = []
        for name, (what, how) in self.WORDS.items():
            recorded, now = getattr(run, name), getattr(self, name)
            if recorded is None or recorded == now:
                continue
            if name == "scorer" and same_scorer(recorded, now):
                continue
            path, _, provider = str(recorded).partition("/")
            on = f" on ONNX Runtime's {provider} provider" if provider else ""
            resume = how.format(recorded=recorded, path=path, provider=on)
            hint = f" (to resume: {resume})" if hints else ""
            out.append(f"{what} {recorded!r}, now {now!r}{hint}")
        return out

    def record(self, run: RescoreRun) -> None:
        run.scorer, run.engine_config = self.scorer, self.engine_config
        run.code_version, run.model_artifact = self.code_version, self.model_artifact


def actors_scorer(session: Session, run: RescoreRun, provenance: RunProvenance) -> str:
    """The scorer record the Ray pipeline's actors must match (serving/rescore_ray.py): the
    run's once it names its provider; else the provider recorded by another run of the version
    that holds outcomes on the same path and no promotion adopted (the driver, not knowing its
    own, was compared on the path alone), the newest such run's where several recorded different
    providers (the hardware in use now, and the same answer from every database: the rows came
    in the database's order before); else the path alone, which the first actor completes with
    its provider (serving/rescore_ray_actor.py)."""
    if provider_known(run.scorer or provenance.scorer):
        return run.scorer or provenance.scorer
    from sqlalchemy import func, select

    from serving.db.models import RescoredScore, RescoreRun
    from serving.rescore_adopted import promoted_runs

    path = provenance.scorer
    others = session.execute(
        select(RescoreRun.id, RescoreRun.scorer).where(
            RescoreRun.model_version == run.model_version, RescoreRun.id != run.id,
            RescoreRun.scorer.startswith(f"{path}/"),
        ).order_by(RescoreRun.id.desc())
    ).all()  # fmt: skip
    promoted = promoted_runs(session, run.model_version) if others else set()
    for other_id, scorer in others:
        held = select(func.count()).where(RescoredScore.run_id == other_id)
        if other_id not in promoted and session.scalar(held):
            return str(scorer)
    return path
