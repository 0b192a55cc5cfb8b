"""Synthetic housing photos with labels known by construction, and photo sets on disk.

`render_photo` draws one photo from its labels; `generate_photos` samples labels, renders
them (in parallel) and writes JPEGs plus a manifest split by family (shanyraq.manifest).
Every photo's pixels depend only on (seed, index), so a set is the same bytes on any
number of workers.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from shanyraq.manifest import ManifestRow, write_manifest
from shanyraq.splits import split_rows
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from training.synth.camera import UNUSABLE_REASONS, degrade, expose, to_uint8
from training.synth.config import SynthConfig, get_synth_config
from training.synth.exterior import draw_exterior
from training.synth.notdwelling import render_not_dwelling
from training.synth.output import check_output, generation, staged_output
from training.synth.rooms import draw_interior
from training.synth.scene import Canvas
from training.synth.signs import fade
from training.synth.spec import PhotoLabels, PhotoSpec, sample_spec
from training.synth.styles import Style, make_style

logger = logging.getLogger(__name__)

_MAX_ATTEMPTS = 6
MIN_SIGN_PIXELS_AT_256 = 24  # a sign must show this many pixels in a 256 px photo
_EXTERIOR = "exterior"


def min_sign_pixels(size: int) -> float:
    """The pixels a sign must show in a `size` px photo for its label to stand: drawn
    (`_draw_scene` redraws a scene until each does) and, in a training stream, after
    augmentation (training.synth.stream)."""
    return MIN_SIGN_PIXELS_AT_256 * (size / 256) ** 2


@dataclass(frozen=True)
class RenderedPhoto:
    """One photo (RGB uint8, H x W x 3), its labels, and where each drawn sign is."""

    image: np.ndarray
    room: str
    condition: int | None
    signs: frozenset[str]
    style: int
    sign_masks: dict[str, np.ndarray]
    kind: str = "room"  # for not_dwelling: package_photo, document, screen or blank_frame


class RenderError(RuntimeError):
    """A sign could not be made visible (should not happen; reported with the spec)."""


@lru_cache(maxsize=128)
def _style(ident: int) -> Style:
    return make_style(ident)


def _draw_scene(
    spec: PhotoLabels, size: int, rng: np.random.Generator, config: SynthConfig, wear: float
) -> Canvas:
    style = _style(spec.style % config.photos.n_styles)
    distract = bool(rng.random() < config.distractors.rate)
    min_pixels = min_sign_pixels(size)
    for _ in range(_MAX_ATTEMPTS):
        canvas = Canvas.blank(size)
        if spec.room == _EXTERIOR:
            draw_exterior(
                canvas, signs=spec.signs, style=style, wear=wear, distract=distract, rng=rng
            )
        else:
            draw_interior(
                canvas,
                room=spec.room,
                signs=spec.signs,
                style=style,
                wear=wear,
                camera=config.camera,
                distract=distract,
                rng=rng,
            )
        visible = {s for s, m in canvas.masks.items() if m.sum() >= min_pixels}
        if set(spec.signs) <= visible:
            canvas.masks = {s: canvas.masks[s] for s in spec.signs}
            return canvas
    raise RenderError(f"could not draw signs {sorted(spec.signs)} visibly in a {spec.room}")


def render_photo(
    spec: PhotoLabels,
    *,
    size: int = 256,
    rng: np.random.Generator,
    config: SynthConfig | None = None,
    taxonomy: Taxonomy | None = None,
) -> RenderedPhoto:
    """Draw one photo showing exactly `spec`'s room and signs.

    `spec` is a PhotoSpec or any object with room, condition, signs and style (a family's
    PlannedPhoto); an optional `wear` (0..1) sets how worn the home looks and an optional
    `unusable_reason` (blurred, too_dark, overexposed) degrades the photo accordingly.
    """
    config = config or get_synth_config()
    taxonomy = taxonomy or get_taxonomy()
    wear = float(getattr(spec, "wear", 0.3))
    if spec.room == taxonomy.not_dwelling:
        if spec.condition is not None or spec.signs:
            raise ValueError(f"a {taxonomy.not_dwelling} photo has no condition and no signs")
        image, kind = render_not_dwelling(config.not_dwelling, rng, size)
        masks: dict[str, np.ndarray] = {}
    else:
        unknown = set(spec.signs) - set(taxonomy.sign_names)
        if unknown or spec.room not in taxonomy.room_names:
            raise ValueError(f"unknown room {spec.room!r} or signs {sorted(unknown)}")
        canvas = _draw_scene(spec, size, rng, config, wear)
        image = fade(canvas.image.astype(np.float32), wear)
        masks, kind = canvas.masks, "room"
    warmth = _style(spec.style % config.photos.n_styles).light_warmth
    light = expose(image, config.camera, rng, warmth=warmth)
    reason = getattr(spec, "unusable_reason", None)
    if reason in UNUSABLE_REASONS:
        light = degrade(light, reason, rng)
    return RenderedPhoto(
        image=to_uint8(light),
        room=spec.room,
        condition=spec.condition,
        signs=frozenset(spec.signs),
        style=spec.style,
        sign_masks={k: v.astype(bool) for k, v in masks.items()},
        kind=kind,
    )


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RenderError("JPEG encoding failed")
    return buffer.tobytes()


def photo_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of photo `index` in a set made with `seed` (independent of workers)."""
    return np.random.default_rng([seed, index, 0x5EED])


def room_choices(config: SynthConfig) -> tuple[list[str], np.ndarray]:
    """The rooms a photo set draws from (sorted) and the chance of each (configs/synth.yaml)."""
    rooms = sorted(config.photos.room_weights)
    weights = np.array([config.photos.room_weights[r] for r in rooms], np.float64)
    return rooms, weights / weights.sum()


def plan_photos(
    n: int, *, seed: int, config: SynthConfig, taxonomy: Taxonomy
) -> list[tuple[str, PhotoSpec]]:
    """(home id, spec) for a stand-alone set: homes of a few photos sharing one style."""
    rng = np.random.default_rng([seed, 0xF1A7])
    rooms, room_p = room_choices(config)
    per_home = config.photos.photos_per_home
    plan: list[tuple[str, PhotoSpec]] = []
    for home in range(math.ceil(n / per_home)):
        style = int(rng.integers(config.photos.n_styles))
        welfare = float(rng.uniform(0, 1))
        for _ in range(min(per_home, n - len(plan))):
            room = rooms[int(rng.choice(len(rooms), p=room_p))]
            spec = sample_spec(config, taxonomy, rng, room=room, style=style, welfare=welfare)
            plan.append((f"home-{seed}-{home:05d}", spec))
    return plan


@dataclass(frozen=True)
class RenderJob:
    index: int
    seed: int
    spec: PhotoLabels
    size: int
    path: Path
    config: SynthConfig


class RenderedFile(NamedTuple):
    """A photo file written by render_job: its sha256 and kind (see RenderedPhoto.kind)."""

    sha256: str
    kind: str


def render_job(job: RenderJob) -> RenderedFile | str:
    """Render and write one photo. Runs in worker processes.

    A sample whose signs the generator cannot make visible at this size (rare: two large
    signs in a small room) returns the reason instead, and no file is written: the caller
    leaves it out of the manifest rather than losing the whole set.
    """
    import hashlib

    rng = photo_rng(job.seed, job.index)
    try:
        photo = render_photo(job.spec, size=job.size, rng=rng, config=job.config)
    except RenderError as exc:
        return str(exc)
    low, high = job.config.photos.jpeg_quality
    data = encode_jpeg(photo.image, int(rng.integers(low, high + 1)))
    job.path.write_bytes(data)
    return RenderedFile(hashlib.sha256(data).hexdigest(), photo.kind)


def worker_count(config: SynthConfig, n: int) -> int:
    wanted = config.photos.workers or min(8, os.cpu_count() or 1)
    return 1 if n < 64 else max(1, wanted)


def run_jobs(jobs: list[RenderJob], *, workers: int, progress: bool) -> list[RenderedFile | None]:
    """Render jobs in order, in `workers` processes, with a progress bar.

    One RenderedFile per job, or None for a photo the generator could not draw (logged;
    see render_job). Raises RenderError when not one photo could be drawn.
    """
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), unit="photo", disable=not progress, desc="rendering")
    results: list[RenderedFile | str] = []
    if workers <= 1:
        for job in jobs:
            results.append(render_job(job))
            bar.update()
    else:
        # Not "fork": the caller may run threads (ONNX Runtime, a web server, a logging
        # handler), and a child forked while one of them held a lock waits for it forever
        # (the demo seeding inside a running test hung so). Forkserver children start from a
        # process that has no threads.
        with multiprocessing.get_context("forkserver").Pool(workers) as pool:
            for result in pool.imap(render_job, jobs, chunksize=16):
                results.append(result)
                bar.update()
    bar.close()
    skipped = [(job, r) for job, r in zip(jobs, results, strict=True) if isinstance(r, str)]
    for job, reason in skipped:
        logger.warning("photo %d (%s) left out of the set: %s", job.index, job.path.name, reason)
    if skipped and len(skipped) == len(jobs):
        raise RenderError(f"none of the {len(jobs)} photos could be drawn: {skipped[0][1]}")
    return [None if isinstance(r, str) else r for r in results]


def generate_photos(
    n: int,
    out_dir: Path,
    *,
    seed: int,
    size: int = 256,
    progress: bool = False,
    config: SynthConfig | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `n` labelled JPEGs under out_dir/photos and out_dir/manifest.csv; returns it.

    A non-empty out_dir is refused (OutputExistsError) unless it holds this same generation
    or `overwrite` is set; the set is written through a staging folder (training.synth.output).
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    config = config or get_synth_config()
    taxonomy = get_taxonomy()
    out_dir = Path(out_dir)
    record = generation("photos", config=config, taxonomy=taxonomy, n=n, seed=seed, size=size)
    check_output(out_dir, record, overwrite=overwrite)
    plan = plan_photos(n, seed=seed, config=config, taxonomy=taxonomy)
    with staged_output(out_dir, record) as staging:
        (staging / "photos").mkdir()
        jobs = [
            RenderJob(i, seed, spec, size, staging / "photos" / f"{i:06d}.jpg", config)
            for i, (_, spec) in enumerate(plan)
        ]
        results = run_jobs(jobs, workers=worker_count(config, n), progress=progress)
        rows = [
            ManifestRow(
                path=f"photos/{i:06d}.jpg",
                sha256=result.sha256,
                family_id=home,
                split="train",
                room=spec.room,
                condition=spec.condition,
                signs=spec.signs,
                source="skimage" if result.kind == "package_photo" else "synthetic",
                extra={"style": str(spec.style), "subject": result.kind},
            )
            for i, ((home, spec), result) in enumerate(zip(plan, results, strict=True))
            if result is not None
        ]
        rows = split_rows(rows, fractions=config.photos.split_fractions, by="condition", seed=seed)
        write_manifest(staging / "manifest.csv", rows)
    logger.info("wrote %d photos to %s", len(rows), out_dir)
    return out_dir / "manifest.csv"
