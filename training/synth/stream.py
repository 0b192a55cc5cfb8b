"""Training photos rendered on the fly: a photo for every example, never stored.

Rendering a 128 px photo takes about 8 ms, about what a training step costs per photo on
one CPU core, so the loader worker that sat idle between light augmentations draws the
photos instead, and no training set has to be generated and stored first. With a new photo
for every example the demo recipe gained a little over 8,000 stored photos seen 9 times, at
the same number of steps (configs/train/demo.yaml has the figures).

Example `index` (as `training.data.EpochSampler` yields it, `epoch * n + i`) is rendered
from the stream's seed and the index alone, as `generate_photos` renders photo `index` of a
set: the same run gives the same photos on any number of workers, and a resumed run the
same as an uninterrupted one. Photos pass through JPEG and the serving decoder like stored
photos. Homes of `photos_per_home` consecutive indices share a style and a welfare level;
the recipe's held-out styles are never drawn. A sign that an example's augmentation moves
out of frame is not labelled in that example; each example says which labels it lost
(`StreamExample.signs_dropped`), so the run can count them (training.train_parts). Validation
and test photos still come from the recipe's manifest, made with another seed. With
`new_photos_each_epoch` off, every epoch renders the same photos again (augmented anew), like
a stored set; that measured no better than the stored set it imitates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from shanyraq.source_digests import code_digests
from shanyraq.taxonomy import Taxonomy
from training.data import (
    Augment,
    Targets,
    augmented,
    augmented_with_points,
    encode_targets,
    resized_from_bytes,
)
from training.synth.config import SynthConfig, get_synth_config
from training.synth.photos import (
    MIN_SIGN_PIXELS_AT_256,
    RenderedPhoto,
    RenderError,
    encode_jpeg,
    min_sign_pixels,
    photo_rng,
    render_photo,
    room_choices,
)
from training.synth.spec import PhotoSpec, sample_spec
from vision.artifact import Preprocessing

_HOME_KEY, _SPEC_KEY = 0xF1A7, 0x5BEC
_PHOTO_KEY = 0x5EED
MAX_DRAWS = 8

# The modules that sample a stream's labels and draw its photos: a change to their code
# changes the photos as a config change does, so their source is part of the training-data
# hash. Not config.py (what it parses is hashed as values) nor output.py (it writes photo sets
# to disk; a stream writes none).
GENERATOR_CODE = (
    "training.synth.stream",  # each example's home, style, room, redraws and JPEG quality
    "training.synth.spec",  # sample_spec: each photo's labels
    "training.synth.photos",  # render_photo, encode_jpeg, photo_rng, room_choices
    "training.synth.camera",  # exposure, noise and the unusable photos' degradation
    "training.synth.exterior",  # the scenes render_photo draws, and what they draw with
    "training.synth.notdwelling",
    "training.synth.rooms",
    "training.synth.furniture",
    "training.synth.scene",
    "training.synth.signs",
    "training.synth.styles",
    "training.synth.textures",
)


class StreamExample(NamedTuple):
    """An `Example` of the stream, with the sign labels its augmentation took away."""

    pixels: torch.Tensor  # uint8 (H, W, 3) at model size, as Example's
    targets: Targets  # the labels trained on: less every sign in `signs_dropped`
    # (S,) bool, taxonomy sign order: drawn, but moved out of frame (and so not labelled).
    # Carried with the batch: a loader worker's counts would not reach the training process.
    signs_dropped: torch.Tensor


class SyntheticStream(Dataset[StreamExample]):
    """`photos_per_epoch` synthetic photos per epoch, new ones each epoch or the same ones."""

    def __init__(
        self,
        *,
        seed: int,
        photos_per_epoch: int,
        size: int,
        spec: Preprocessing,
        taxonomy: Taxonomy,
        augment: Augment | None = None,
        exclude_styles: tuple[int, ...] = (),
        run_seed: int = 0,
        new_photos_each_epoch: bool = True,
        config: SynthConfig | None = None,
    ) -> None:
        if photos_per_epoch < 1:
            raise ValueError("photos_per_epoch must be at least 1")
        self.config = config or get_synth_config()
        self.seed, self.n, self.size = seed, photos_per_epoch, size
        self.spec, self.taxonomy, self.augment, self.run_seed = spec, taxonomy, augment, run_seed
        self.new_photos_each_epoch = new_photos_each_epoch
        self.styles = [s for s in range(self.config.photos.n_styles) if s not in exclude_styles]
        if not self.styles:
            raise ValueError("every synthetic style is held out: nothing left to train on")
        self.rooms, self.room_p = room_choices(self.config)
        # Read once, when the stream is made (its modules loaded): the code its photos are
        # drawn with, which a later edit of the files during the run does not change.
        self.generator_code = code_digests(GENERATOR_CODE)
        # The first epoch's labels stand for the stream's label mix (class weights).
        self.targets = [encode_targets(self.labels(i), taxonomy) for i in range(self.n)]

    def __len__(self) -> int:
        return self.n

    def labels(self, index: int, draw: int = 0) -> PhotoSpec:
        """What example `index` shows (room, signs, wear, grade), before any pixel is drawn.

        `draw` > 0 gives another sample for the same home (see `render`).
        """
        per_home = self.config.photos.photos_per_home
        home = np.random.default_rng([self.seed, index // per_home, _HOME_KEY])
        style = self.styles[int(home.integers(len(self.styles)))]
        welfare = float(home.uniform(0.0, 1.0))
        key = [self.seed, index, _SPEC_KEY] if draw == 0 else [self.seed, index, draw, _SPEC_KEY]
        rng = np.random.default_rng(key)
        room = self.rooms[int(rng.choice(len(self.rooms), p=self.room_p))]
        return sample_spec(self.config, self.taxonomy, rng, room=room, style=style, welfare=welfare)

    def render(self, index: int) -> tuple[PhotoSpec, RenderedPhoto, np.random.Generator]:
        """Example `index`'s labels, photo and the generator that drew it.

        The generator cannot always make every sign of a sample visible at a small size: stream
        seed 2 met one such sample (damp and structural damage in a bedroom) within its first
        9,728 examples, seed 1 none in 43,776. The RenderError would end a whole run, so such
        a sample is drawn again for the same home, up to MAX_DRAWS times, still from the seed
        and the index alone.
        """
        for draw in range(MAX_DRAWS):
            labels = self.labels(index, draw)
            rng = (
                photo_rng(self.seed, index)
                if draw == 0
                else np.random.default_rng([self.seed, index, draw, _PHOTO_KEY])
            )
            try:
                return (
                    labels,
                    render_photo(labels, size=self.size, rng=rng, config=self.config),
                    rng,
                )
            except RenderError:
                continue
        raise RenderError(f"stream example {index}: no drawable sample in {MAX_DRAWS} draws")

    def __getitem__(self, index: int) -> StreamExample:
        """Drawn example `index` (EpochSampler's `epoch * n + i`): photo `index`, or photo `i`
        again when every epoch shows the same photos; augmented by `index` either way."""
        labels, photo, rng = self.render(index if self.new_photos_each_epoch else index % self.n)
        low, high = self.config.photos.jpeg_quality
        data = encode_jpeg(photo.image, int(rng.integers(low, high + 1)))
        rgb, kept = self._augmented(resized_from_bytes(data, self.spec), labels, photo, index)
        dropped = torch.zeros(len(self.taxonomy.sign_names), dtype=torch.bool)
        for name in (labels.signs or frozenset()) - (kept.signs or frozenset()):
            dropped[self.taxonomy.sign_names.index(name)] = True
        return StreamExample(torch.from_numpy(rgb), encode_targets(kept, self.taxonomy), dropped)

    def _augmented(
        self, rgb: np.ndarray, labels: PhotoSpec, photo: RenderedPhoto, index: int
    ) -> tuple[np.ndarray, PhotoSpec]:
        """Example `index`'s augmentation of `rgb`, and its labels less every sign the draw
        moved out of frame: fewer of its drawn pixels left in frame than the generator asks a
        sign to show (photos._draw_scene). Labelled still, such a sign taught the signs head
        noise: the `phone` pipeline's zoom, shift and perspective kept under a quarter of the
        pixels of 4 % of sign labels in frame, and none of 1.5 % (2,000 stream photos, 128 px). Each
        sign pixel's centre is carried through the same draw; the photo is the one `augmented`
        gives."""
        if self.augment is None or not labels.signs:
            return augmented(rgb, self.augment, self.run_seed, index), labels
        names = sorted(labels.signs)
        where = [np.nonzero(photo.sign_masks[name]) for name in names]
        # Photo pixel centres in model-size pixel-index coordinates (pixel i's centre at i).
        scale = np.array(rgb.shape[1::-1]) / np.array(photo.image.shape[1::-1])
        points = np.concatenate([np.stack([xs, ys], 1) for ys, xs in where]) + 0.5
        rgb, moved = augmented_with_points(
            rgb, points * scale - 0.5, self.augment, self.run_seed, index
        )
        height, width = rgb.shape[:2]
        inside = (moved >= -0.5).all(1) & (moved[:, 0] < width - 0.5) & (moved[:, 1] < height - 0.5)
        per_sign = np.split(inside, np.cumsum([len(ys) for ys, _ in where])[:-1])
        kept = {n for n, i in zip(names, per_sign, strict=True) if i.sum() >= self.min_pixels}
        return rgb, labels if len(kept) == len(names) else replace(labels, signs=frozenset(kept))

    @property
    def min_pixels(self) -> float:
        """The generator's visibility rule at this stream's size: a sign must show this many
        pixels, drawn (photos._draw_scene) and, for its label to stand, after augmentation."""
        return min_sign_pixels(self.size)

    def description(self, *, epochs: int) -> dict[str, object]:
        """What made this stream's photos, for run.json and the training-data hash."""
        return {
            "kind": "synthetic_stream",
            "seed": self.seed,
            "photos_per_epoch": self.n,
            "epochs": epochs,
            "size": self.size,
            "styles": self.styles,
            "new_photos_each_epoch": self.new_photos_each_epoch,
            "generator_code": self.generator_code,
            # A sign label is dropped when augmentation leaves fewer of its drawn pixels in
            # frame than this (per 256 px of photo side, squared: `min_pixels`).
            "signs_out_of_frame_unlabelled_below_px_at_256": MIN_SIGN_PIXELS_AT_256,
        }


def stream_sha256(description: dict[str, object], config: SynthConfig) -> str:
    """The identity of a stream's training data: its settings plus the generator's config.

    A stream stores no photos, so the artifact's training-data hash covers what makes them:
    the stream settings with the sha256 of the generator's source files (its description's
    "generator_code", GENERATOR_CODE) and every value of the synth config.
    """
    payload = {"stream": description, "synth": config.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
