"""The training loader: the train split's photos (decoded once when cached) or a stream of
rendered ones, in batches drawn in the order of an EpochSampler.

A training photo that cannot be read, met by a loader worker (or by the training process with
no worker), comes out of the loader as a data.PhotoFailure and is raised by `batches` as the
one-line ImageError it carries, naming the photo and its manifest row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, default_collate

from shanyraq.taxonomy import Taxonomy, get_taxonomy
from training.augment import build_pipeline
from training.data import EpochSampler, Example, ManifestDataset, PhotoFailure, sample_weights
from training.dataset_splits import DataSplits
from training.recipe import TrainConfig
from training.synth.stream import SyntheticStream
from vision.artifact import Preprocessing


def build_train_set(
    config: TrainConfig, splits: DataSplits, spec: Preprocessing, taxonomy: Taxonomy
) -> ManifestDataset | SyntheticStream:
    """The manifest's train split (decoded once when cached), or a stream of fresh photos."""
    augment = build_pipeline(config.augment, seed=config.seed)
    stream = config.data.stream
    if stream is not None:
        return SyntheticStream(
            seed=stream.seed,
            photos_per_epoch=stream.photos_per_epoch,
            size=stream.size,
            spec=spec,
            taxonomy=taxonomy,
            augment=augment,
            exclude_styles=tuple(config.data.held_out_styles),
            run_seed=config.seed,
            new_photos_each_epoch=stream.new_photos_each_epoch,
        )
    train_set = ManifestDataset(
        splits.train,
        splits.root,
        spec=spec,
        taxonomy=taxonomy,
        augment=augment,
        seed=config.seed,
        manifest=splits.manifest,
    )
    if config.loader.cache:
        train_set.preload()
    return train_set


def collate(items: list[Example] | list[PhotoFailure]) -> Any:
    """A batch of examples, or the PhotoFailure a batch turned into (passed on as it is)."""
    if items and isinstance(items[0], PhotoFailure):
        return items[0]
    return default_collate(items)


def build_loader(dataset: ManifestDataset | SyntheticStream, config: TrainConfig) -> DataLoader:
    """Batches of `dataset` in the order of an EpochSampler (call its set_epoch each epoch);
    iterate them with `batches`."""
    micro_batch = config.optim.batch_size // config.optim.accumulation_steps
    weights = None
    if config.optim.class_balance == "sampler":
        weights = sample_weights(dataset.targets, num_rooms=len(get_taxonomy().room_names))
    sampler = EpochSampler(
        len(dataset), seed=config.seed, weights=None if weights is None else weights.tolist()
    )
    return DataLoader(
        dataset,
        batch_size=micro_batch,
        sampler=sampler,
        collate_fn=collate,
        # The workers' base seed comes from here, not from torch's global generator: drawing
        # it from the global one at the first epoch of a process (a fresh run's first, a
        # resumed run's next) would shift the stream dropout draws from after a resume.
        generator=torch.Generator().manual_seed(config.seed),
        num_workers=config.loader.num_workers,
        drop_last=len(dataset) > micro_batch,
        pin_memory=torch.cuda.is_available(),
        # One worker kept for the whole run: forking it again every epoch cost about a sixth
        # of a short epoch's throughput on 2 cores (benchmarks/bench_train.py).
        persistent_workers=config.loader.num_workers > 0,
    )


def batches(loader: DataLoader) -> Iterator[Example]:
    """The loader's batches, one epoch; a photo that could not be read is raised here, in the
    training process, as its one-line ImageError."""
    for batch in loader:
        if isinstance(batch, PhotoFailure):
            raise batch.error(batch.message)
        yield batch
