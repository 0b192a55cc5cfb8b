"""Real photo scores for held-out synthetic families: each planned photo rendered and scored.

`shanyraq welfare evaluate` rests on photo scores *simulated* from each photo's true labels
(welfare.simulate). Here the same test families' (welfare.real_families) planned photos are
drawn by the generator (training.synth.photos.render_photo, with the per-photo seed
`write_families` uses), encoded as JPEG, decoded by vision.io, judged by the quality gate,
checked for reuse against every other family's photos and scored by the vision engine as the
service does; the family's visual features then come from welfare.aggregate as always, and the
saved fusion models are compared on both readings of the very same families.

One departure from the service, on purpose: photos are rendered at `size` px (128, the demo
model's training size) to keep CPU modest, so the gate's resolution check, which judges what
the camera stored, is set to that size, and so is the side blur is measured at: the gate
enlarges a photo smaller than its working side for the blur score (a shrunk copy of a blurred
photo would pass), which would judge every 128 px render of a sharp room blurred (7,659 of
30,907 photos were, against 317 at the render's own scale). Exposure, clipping and
blank-frame checks run unchanged. Scores are cached per photo under runs/welfare_real/ in a
file named by everything that changes a cached photo (welfare.real_score_cache's docstring
lists it), so a rerun scores only new photos.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vision.providers import ORT_NAMES
from vision.quality import QualityConfig, QualityVerdict
from vision.score import PhotoScore
from welfare.aggregate import PhotoFlags
from welfare.criteria import WelfareConfig
from welfare.dataset import FamilyData, build_family_data
from welfare.real_families import HeldOut
from welfare.simulate import SimulatedPhoto

if TYPE_CHECKING:
    from training.synth.config import SynthConfig
    from training.synth.families import PlannedPhoto
    from vision.engine import Engine
    from vision.io import DecodedImage
    from welfare.real_score_cache import ScoreCache

log = logging.getLogger(__name__)

BATCH = 32  # photos rendered, then scored in one engine call (bounds memory)


@dataclass(frozen=True)
class RealPhoto:
    """One rendered photo's engine score, quality verdict and reuse hashes."""

    key: str  # family_id/photo index within the family
    score: PhotoScore
    quality_status: str
    quality_reasons: tuple[str, ...]
    photo_hash: str  # vision.hashing.PhotoHashes as hex: the full hash and its central crops

    @property
    def family_id(self) -> str:
        return self.key.rsplit("/", 1)[0]


def photo_key(photo: PlannedPhoto) -> str:
    return f"{photo.family_id}/{photo.index}"


def study_engine(folder: Path) -> Engine:
    """The vision engine as configs/engine.yaml sets it (providers, fp16, abstain, quality,
    hashing: the shared get_engine_config, as Engine.load reads it) but on one ONNX Runtime
    thread: the study must not crowd a machine others measure on (its CLI commands hold OpenCV
    and OpenMP to one thread too), and its report gives the scoring time as on one thread
    where the CPU provider scores (`scoring_description`).
    Thread counts change no score (welfare.real_score_cache leaves them out of its key)."""
    from vision.engine import Engine, get_engine_config

    config = get_engine_config()
    runtime = config.runtime.model_copy(update={"intra_op_threads": 1, "inter_op_threads": 1})
    return Engine.load(folder, config=config.model_copy(update={"runtime": runtime}))


def scoring_description(counts: Mapping[str, Any]) -> str:
    """The report's sentence on `score_photos`' counts and the execution provider that scored
    them (`provider`, as Engine.provider names it; in the cache's key, so cached scores were
    made by it too): one thread only on the CPU provider (study_engine); older files name none."""
    seconds, scored = counts.get("scoring_seconds"), counts.get("scored", 0)
    by, provider = "by an execution provider the file does not record", counts.get("provider")
    if provider:
        on = "on one thread" if provider == "cpu" else "on the GPU"
        by = f"by ONNX Runtime's {ORT_NAMES.get(provider, provider)} {on}"
    if not scored:
        return f"All {counts['photos']:,} photo scores came from the cache, made {by}. "
    # Recorded to 0.1 s: a few small photos take "0.0" (a rate cannot be given then).
    took = f"{seconds:.0f} s" if seconds and seconds >= 1 else f"{seconds or 0:.1f} s"
    rate = f"{scored / seconds:.0f} a second; " if seconds else ""
    return (
        f"{scored:,} photos rendered and scored in {took}, the scores made {by} "
        f"({rate}{counts['from_cache']:,} more from the cache). "
    )


def study_quality(engine: Engine, size: int) -> QualityConfig:
    """The engine's quality gate, its resolution check and blur scale moved to the render
    size (see top)."""
    return engine.config.quality.model_copy(
        update={
            "min_short_side_fail_px": size, "min_short_side_warn_px": size,
            "working_side_px": min(size, engine.config.quality.working_side_px),
        }
    )  # fmt: skip


@dataclass(frozen=True)
class _Prepared:
    key: str
    model_input: np.ndarray
    verdict: QualityVerdict
    sha256: str
    photo_hash: str


def decode_planned(
    photo: PlannedPhoto,
    index: int,
    *,
    seed: int,
    size: int,
    synth: SynthConfig,
    target_side: int,
    max_pixels: int,
) -> DecodedImage:
    """Render photo `index` of the set made with `seed`, JPEG-encode it, decode it as uploaded."""
    from training.synth.photos import encode_jpeg, photo_rng, render_photo
    from vision.io import decode_image

    rng = photo_rng(seed, index)  # the seed write_families gives this photo
    rendered = render_photo(photo, size=size, rng=rng, config=synth)
    low, high = synth.photos.jpeg_quality
    data = encode_jpeg(rendered.image, int(rng.integers(low, high + 1)))
    return decode_image(data, max_pixels=max_pixels, target_size=target_side)


def prepare_photo(
    photo: PlannedPhoto,
    index: int,
    *,
    seed: int,
    size: int,
    engine: Engine,
    quality: QualityConfig,
    synth: SynthConfig,
    max_pixels: int,
) -> _Prepared:
    """Render photo `index` of the set made with `seed`, then run the service's upload steps."""
    from vision.hashing import reuse_hashes
    from vision.quality import assess_quality

    side = engine.config.decode_side_for(engine.artifact.preprocessing.size)
    decoded = decode_planned(
        photo, index, seed=seed, size=size, synth=synth, target_side=side, max_pixels=max_pixels
    )
    verdict = assess_quality(decoded.pixels, config=quality, original_size=decoded.original_size)
    hashes = reuse_hashes(decoded.pixels, engine.config.hashing.crop_fractions)
    return _Prepared(
        key=photo_key(photo),
        model_input=engine.prepare(decoded.pixels),
        verdict=verdict,
        sha256=decoded.sha256,
        photo_hash=hashes.to_hex(),
    )


def planned_pixels(held: HeldOut, *, size: int, engine: Engine) -> Callable[[str], np.ndarray]:
    """Pixels of a held-out photo by key, rendered again (seeded: the very pixels scored),
    decoded at the size the service decodes a stored photo to verify reuse."""
    from shanyraq.config import get_settings
    from training.synth.config import get_synth_config

    synth, max_pixels = get_synth_config(), get_settings().io.max_pixels
    side = engine.config.hashing.verification.working_side_px
    by_key = {photo_key(p): (i, p) for i, p in held.planned}

    def pixels(key: str) -> np.ndarray:
        index, photo = by_key[key]
        return decode_planned(
            photo, index, seed=held.seed, size=size, synth=synth, target_side=side,
            max_pixels=max_pixels,
        ).pixels  # fmt: skip

    return pixels


def score_photos(
    held: HeldOut,
    *,
    engine: Engine,
    size: int,
    cache: ScoreCache | None = None,
    progress: bool = False,
) -> tuple[dict[str, RealPhoto], dict[str, float]]:
    """Every planned photo of `held` scored (cached ones reused); returns photos and counts."""
    from tqdm import tqdm

    from shanyraq.config import get_settings
    from training.synth.config import get_synth_config

    synth, quality = get_synth_config(), study_quality(engine, size)
    max_pixels = get_settings().io.max_pixels
    known = cache.load() if cache is not None else {}
    todo = [(i, p) for i, p in held.planned if photo_key(p) not in known]
    started = time.perf_counter()
    photos = {photo_key(p): known[photo_key(p)] for _, p in held.planned if photo_key(p) in known}
    for start in tqdm(range(0, len(todo), BATCH), desc="rendering + scoring", disable=not progress):
        batch = todo[start : start + BATCH]
        photos.update(
            _score_batch(
                batch,
                held=held,
                engine=engine,
                size=size,
                synth=synth,
                quality=quality,
                max_pixels=max_pixels,
            )
        )
    if cache is not None and todo:
        cache.save({**known, **photos})
    seconds = time.perf_counter() - started
    unrenderable = len(held.planned) - len(photos)  # never cached: always among `todo`
    counts: dict[str, float] = {
        "photos": len(photos),
        "from_cache": len(photos) - (len(todo) - unrenderable),
        "scored": len(todo) - unrenderable,
        "unrenderable": unrenderable,
        "scoring_seconds": round(seconds, 1),
    }
    log.info(
        "%d photos: %d from cache, %d scored", len(photos), counts["from_cache"], counts["scored"]
    )
    return photos, counts


def _score_batch(
    batch: list[tuple[int, PlannedPhoto]],
    *,
    held: HeldOut,
    engine: Engine,
    size: int,
    synth: SynthConfig,
    quality: QualityConfig,
    max_pixels: int,
) -> dict[str, RealPhoto]:
    from training.synth.photos import RenderError

    prepared = []
    for i, p in batch:
        try:
            prepared.append(
                prepare_photo(
                    p,
                    i,
                    seed=held.seed,
                    size=size,
                    engine=engine,
                    quality=quality,
                    synth=synth,
                    max_pixels=max_pixels,
                )
            )
        except RenderError as error:
            # The generator cannot draw every sign mix visibly at this small size; such a
            # photo is left out (counted as unrenderable), as an upload that never came.
            log.warning("%s not rendered at %d px: %s", photo_key(p), size, error)
    if not prepared:
        return {}
    scores = engine.score_inputs(
        np.stack([p.model_input for p in prepared]),
        sha256s=[p.sha256 for p in prepared],
        quality=[p.verdict for p in prepared],
    )
    out = {}
    for item, score in zip(prepared, scores, strict=True):
        lean = replace(score, embedding=np.zeros(0, dtype=np.float32))  # not needed here
        out[item.key] = RealPhoto(
            item.key, lean, item.verdict.status, item.verdict.reasons, item.photo_hash
        )
    return out


def engine_photos(
    held: HeldOut, photos: dict[str, RealPhoto], *, reused: Mapping[str, bool]
) -> dict[str, list[SimulatedPhoto]]:
    """The engine's scores and flags in the carrier build_family_data reads, family by family.

    `reused`: per photo key, whether the reuse check (welfare.real_reuse) flagged it.
    """
    out: dict[str, list[SimulatedPhoto]] = {}
    for _, planned in held.planned:
        photo = photos.get(photo_key(planned))
        if photo is None:  # not renderable (see _score_batch): the family has one fewer photo
            continue
        flags = PhotoFlags(quality_status=photo.quality_status, reused=reused[photo.key])
        # SimulatedPhoto is only a (family_id, score, flags) carrier here: the score is real.
        out.setdefault(photo.family_id, []).append(
            SimulatedPhoto(photo.family_id, photo.score, flags)
        )
    return out


def readings(
    held: HeldOut,
    photos: dict[str, RealPhoto],
    *,
    reused: Mapping[str, bool],
    config: WelfareConfig,
) -> dict[str, FamilyData]:
    """The same families twice: with simulated photo scores and with the engine's."""
    return {
        "simulated": build_family_data(held.table, held.simulated, config=config),
        "engine": build_family_data(
            held.table, engine_photos(held, photos, reused=reused), config=config
        ),
    }
