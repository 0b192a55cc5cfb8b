"""Manifest rows to training batches, through the same decode and preprocessing as serving.

Pixels enter through `vision.io` and are resized by `vision.preprocess`; the only
training-only step is the augmentation pipeline, applied to the resized uint8 image (cheap:
it works at model size, not phone size). Examples stay uint8 until a whole batch reaches the
training process, where `model_input` normalises it with `vision.preprocess`'s constants: a
loader worker then ships a quarter of the bytes and does no float work per photo.

Labels become head targets here: -1 marks "not labelled" and is masked in the loss; a
`not_dwelling` photo never carries condition or signs.

An epoch's examples are drawn by `EpochSampler` as indices `epoch * n + i`: a dataset reads
photo `i % n` and seeds its augmentation from the whole index, so what a training example
looks like depends on the run's seed, the epoch and the photo only, never on which loader
worker draws it or what that worker drew before (workers are kept for the whole run, and a
resumed run must match an uninterrupted one).

A training photo that cannot be read is one ImageError naming the photo and its manifest row.
Met while training (photos not cached), it comes out of the DataLoader as a `PhotoFailure`
batch and is raised in the training process (training.loader.batches): raised in a loader
worker, torch would re-raise it with the worker's whole traceback as its message.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from shanyraq.config import get_settings
from shanyraq.errors import ImageError, ShanyraqError
from shanyraq.manifest import ManifestRow, read_manifest
from shanyraq.manifest_check import record_lines
from shanyraq.taxonomy import Taxonomy
from vision.artifact import Preprocessing
from vision.io import decode_image
from vision.preprocess import resize, scaling

logger = logging.getLogger(__name__)

IGNORE = -1


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch of a run (shuffling, dropout)."""
    return (seed * 1_000_003 + epoch * 7919) % 2**31


def example_seed(seed: int, index: int) -> int:
    """The augmentation seed of one drawn example (`index` as EpochSampler yields it)."""
    return int(np.random.SeedSequence([seed, index, 0xA06]).generate_state(1)[0])


class Augment(Protocol):
    """A seeded augmentation: uint8 RGB in, uint8 RGB out (training.augment.PhotoAugment)."""

    def __call__(self, rgb: np.ndarray) -> np.ndarray: ...
    def set_seed(self, seed: int) -> None: ...
    def with_points(self, rgb: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class Targets(NamedTuple):
    """Head targets for one photo (or a batch, after collation)."""

    room: int | torch.Tensor  # class index, or IGNORE
    condition: int | torch.Tensor  # grade index 0..K-1, or IGNORE
    signs: torch.Tensor  # (S,) 0/1 float
    signs_known: bool | torch.Tensor  # False when the signs are not labelled


class Example(NamedTuple):
    pixels: torch.Tensor  # uint8 (H, W, 3) at model size; model_input makes a batch of them
    targets: Targets


class Labels(Protocol):
    """What a photo is labelled with: a ManifestRow, or a synthetic photo's spec."""

    @property
    def room(self) -> str | None: ...
    @property
    def condition(self) -> int | None: ...
    @property
    def signs(self) -> frozenset[str] | None: ...


def encode_targets(row: Labels, taxonomy: Taxonomy) -> Targets:
    """Labels of one row as head targets; not_dwelling rows train the room head only."""
    room = taxonomy.room_names.index(row.room) if row.room is not None else IGNORE
    dwelling = row.room is None or row.room != taxonomy.not_dwelling
    condition = row.condition - 1 if (dwelling and row.condition is not None) else IGNORE
    signs = torch.zeros(taxonomy.head_size("signs"))
    known = dwelling and row.signs is not None
    if known and row.signs:
        for name in row.signs:
            signs[taxonomy.sign_names.index(name)] = 1.0
    return Targets(room=room, condition=condition, signs=signs, signs_known=known)


def decode_side(spec: Preprocessing) -> int:
    """The shorter side a photo is decoded at for a model of `spec`: the one uploads and
    re-scoring decode at (configs/engine.yaml `decode_short_side_px`, never below the model's
    input), so the model is trained and measured on the pixels it scores. A JPEG drafted for
    the model's own size instead took another DCT scale (a 4032 x 3024 photo: 1/8, not 1/4)."""
    from vision.engine import get_engine_config

    return get_engine_config().decode_side_for(spec.size)


def resized_from_bytes(data: bytes, spec: Preprocessing) -> np.ndarray:
    """Decode (reduced-scale JPEG draft when possible, at `decode_side`) and resize to the
    model's input size."""
    decoded = decode_image(
        data, max_pixels=get_settings().io.max_pixels, target_size=decode_side(spec)
    )
    return resize(decoded.pixels, spec)


@contextmanager
def photo_file(path: Path) -> Iterator[None]:
    """A photo that cannot be read or decoded is refused as an ImageError that names its file
    (a dataset of thousands says which one)."""
    try:
        yield
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc.message}") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the photo ({exc.strerror or exc})") from None


def load_resized(path: Path, spec: Preprocessing) -> np.ndarray:
    """A photo file at the model's input size (see resized_from_bytes)."""
    with photo_file(path):
        return resized_from_bytes(path.read_bytes(), spec)


def augmented(rgb: np.ndarray, augment: Augment | None, seed: int, index: int) -> np.ndarray:
    """Drawn example `index`'s augmentation of `rgb` (contiguous uint8); seeded per index."""
    if augment is not None:
        augment.set_seed(example_seed(seed, index))
        rgb = augment(rgb)
    return np.ascontiguousarray(rgb)


def augmented_with_points(
    rgb: np.ndarray, points: np.ndarray, augment: Augment | None, seed: int, index: int
) -> tuple[np.ndarray, np.ndarray]:
    """`augmented`, the same photo, and where its draw moves `points` ((N, 2) x, y in pixel-index
    coordinates of `rgb`; points moved out of the frame are kept, outside it). A manifest's
    photos have no sign locations to carry: only the synthetic stream uses this."""
    if augment is None:
        return np.ascontiguousarray(rgb), points
    augment.set_seed(example_seed(seed, index))
    moved_rgb, moved = augment.with_points(rgb, points)
    return np.ascontiguousarray(moved_rgb), moved


class PhotoFailure(NamedTuple):
    """A photo of a batch that could not be read: the ImageError to raise, carried as data."""

    error: type[ImageError]
    message: str


UNREADABLE_HINT = "replace it with a readable copy or remove its row, then train again"
CACHE_HINT = (
    "; `loader.cache: true` decodes every training photo before training starts, so it finds "
    "all such photos at once"
)


def manifest_line(manifest: Path | None, row: ManifestRow) -> str:
    """Where `row` is: "MANIFEST, line N" (the file read again: this is for an error message),
    or the manifest alone when the row is no longer in it."""
    if manifest is None:
        return "the manifest"
    try:
        rows = read_manifest(manifest).rows
    except (ShanyraqError, OSError):
        rows = []
    lines = record_lines(manifest, len(rows)) if rows else []  # an editor's, not row numbers
    line = next((n for n, other in zip(lines, rows, strict=True) if other == row), None)
    return f"{manifest}, line {line}" if line is not None else str(manifest)


class ManifestDataset(Dataset[Example]):
    """Photos of a manifest as (pixels, targets); optionally cached at model size in memory."""

    def __init__(
        self,
        rows: Sequence[ManifestRow],
        root: Path,
        *,
        spec: Preprocessing,
        taxonomy: Taxonomy,
        augment: Augment | None = None,
        seed: int = 0,
        manifest: Path | None = None,
    ) -> None:
        self.rows = list(rows)
        self.root = root
        self.manifest = manifest  # where the rows are from, named when a photo cannot be read
        self.spec = spec
        self.augment = augment
        self.seed = seed
        self.targets = [encode_targets(r, taxonomy) for r in self.rows]
        self._cache: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def preload(self, *, progress: bool = True) -> None:
        """Decode every photo once; workers forked afterwards share the cache copy-on-write."""
        size = self.spec.size
        cache = np.empty((len(self.rows), size, size, 3), dtype=np.uint8)
        for i, row in enumerate(tqdm(self.rows, desc="decode", disable=not progress, leave=False)):
            try:
                cache[i] = load_resized(row.resolve(self.root), self.spec)
            except ImageError as exc:
                raise self.unreadable(i, exc) from None
        self._cache = cache

    def unreadable(self, photo: int, exc: ImageError, *, hint: str = "") -> ImageError:
        """`exc`, raised reading photo `photo`, as one error naming the photo and its row."""
        row = self.rows[photo]
        path = row.resolve(self.root)
        reason = exc.message.removeprefix(f"{path}: ")
        return type(exc)(
            f"{manifest_line(self.manifest, row)}: training photo {path} cannot be read "
            f"({reason}); {UNREADABLE_HINT}{hint}"
        )

    def image(self, index: int) -> np.ndarray:
        """The photo at model size, uint8 RGB, before augmentation."""
        if self._cache is not None:
            return self._cache[index]
        return load_resized(self.rows[index].resolve(self.root), self.spec)

    def __getitem__(self, index: int) -> Example:
        """Photo `index % len(self)`, augmented with a seed drawn from `index` (EpochSampler)."""
        photo = index % len(self.rows)
        # A sign that the draw moves out of frame stays labelled here: a manifest row has no
        # sign locations to carry through it (the synthetic stream unlabels such signs).
        rgb = augmented(self.image(photo), self.augment, self.seed, index)
        return Example(torch.from_numpy(rgb), self.targets[photo])

    def __getitems__(self, indices: Sequence[int]) -> list[Example] | list[PhotoFailure]:
        """A batch as a DataLoader fetches it (in a worker, or in the training process): a
        photo that cannot be read turns the batch into its PhotoFailure (see the module doc)."""
        examples = []
        for index in indices:
            try:
                examples.append(self[index])
            except ImageError as exc:
                error = self.unreadable(index % len(self.rows), exc, hint=CACHE_HINT)
                return [PhotoFailure(type(error), error.message)]
        return examples


class EpochSampler(Sampler[int]):
    """One epoch's draw of `n` examples, yielded as `epoch * n + i` (see the module doc).

    Without weights, a permutation of the n photos; with weights, n draws with replacement
    in proportion to them (class balance by sampling). Seeded by the run's seed and the epoch
    set last with `set_epoch`, in the process that iterates the loader.
    """

    def __init__(self, n: int, *, seed: int, weights: Sequence[float] | None = None) -> None:
        if n < 1:
            raise ValueError("an epoch needs at least one example")
        if weights is not None and len(weights) != n:
            raise ValueError(f"{len(weights)} weights for {n} examples")
        self.n, self.seed, self.epoch = n, seed, 0
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        if self.weights is None:
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=generator)
        return iter((order + self.epoch * self.n).tolist())


def model_input(pixels: torch.Tensor, spec: Preprocessing) -> torch.Tensor:
    """A uint8 batch (N, H, W, 3) -> float32 (N, 3, H, W), contiguous.

    The values are vision.preprocess.normalize's, photo by photo (same constants, same order
    of operations). Contiguous, not channels-last: a channels-last input would switch CPU
    convolutions to their channels-last kernels, which train measurably worse (training.train).
    """
    mean, inv_std = (torch.from_numpy(v).to(pixels.device).view(1, 3, 1, 1) for v in scaling(spec))
    return ((pixels.permute(0, 3, 1, 2).float() - mean) * inv_std).contiguous()


def label_counts(targets: Sequence[Targets], *, head: str, size: int) -> np.ndarray:
    """How many labelled examples each class of `head` ("room" or "condition") has."""
    counts = Counter(int(getattr(t, head)) for t in targets)
    return np.array([counts.get(i, 0) for i in range(size)], dtype=np.float64)


def balanced_weights(counts: np.ndarray, *, power: float = 0.5) -> np.ndarray:
    """Inverse-frequency class weights (softened by `power`), mean 1 over present classes.

    A class the counted labels lack gets the rarest present class's weight (1 when none is
    present), not 0: the labels counted may be a sample of what training meets (a stream's
    first epoch stands for every epoch), and a class weighing 0 would never be learnt.
    """
    present = counts > 0
    weights = np.ones_like(counts, dtype=np.float64)
    if present.any():
        weights[present] = (counts[present].sum() / counts[present]) ** power
        weights[present] /= weights[present].mean()
        weights[~present] = weights[present].max()
    return weights


def sample_weights(targets: Sequence[Targets], *, num_rooms: int) -> np.ndarray:
    """Per-example weights so that each room class is drawn about equally often."""
    class_weight = balanced_weights(label_counts(targets, head="room", size=num_rooms), power=1.0)
    return np.array([class_weight[int(t.room)] if int(t.room) >= 0 else 1.0 for t in targets])
