"""Review 19: the training stream's mechanics, and JSON numbers with more digits than a float.

Before: `is_finite_number` raised OverflowError on a whole number beyond float's range (JSON
allows any number of digits), so a photo-scores file with such a number in an embedding or a
probability ended `shanyraq assess` with a traceback instead of naming the bad entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from shanyraq.errors import InputFileError
from shanyraq.json_values import finite_or_none, is_finite_number
from tests.welfare.score_helpers import good_score
from training.augment import build_pipeline
from training.data import EpochSampler
from training.synth.stream import SyntheticStream
from vision.artifact import Preprocessing
from welfare.photo_scores import read_photo_scores

SPEC = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
HUGE = 10**400  # json.loads reads these 401 digits as an int no float can hold


@pytest.mark.parametrize("value", [HUGE, -HUGE], ids=["1e400", "-1e400"])
def test_a_whole_number_beyond_float_range_is_no_finite_number(value):
    assert is_finite_number(value) is False
    assert is_finite_number(2**53 + 1) is True  # large but a float still holds it
    assert finite_or_none({"n": value}) == {"n": value}  # left as JSON gave it


@pytest.mark.parametrize("where", ["embedding", "probability"])
def test_a_scores_file_with_a_number_too_large_is_refused_naming_the_entry(tmp_path, where):
    entry = good_score()
    if where == "embedding":
        entry["embedding"] = [0.5, "HUGE"]
    else:
        entry["signs"][next(iter(entry["signs"]))] = "HUGE"
    path = tmp_path / "scores.json"
    path.write_text(json.dumps([entry]).replace('"HUGE"', str(HUGE)))
    with pytest.raises(InputFileError, match="1 of 1 photo score"):
        read_photo_scores(path)


def _batches(stream: SyntheticStream, *, workers: int, epochs: int) -> torch.Tensor:
    sampler = EpochSampler(len(stream), seed=7)
    loader = DataLoader(
        stream,
        batch_size=4,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(7),
    )
    out = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        out += [batch.pixels for batch in loader]
    return torch.cat(out)


def test_stream_batches_are_the_same_on_any_number_of_workers_and_new_each_epoch(taxonomy):
    """Checked in review 19: two workers render no photo twice and none other than one
    process does; the second epoch's photos are all new ones."""

    def stream() -> SyntheticStream:
        return SyntheticStream(
            seed=3, photos_per_epoch=8, size=40, spec=SPEC, taxonomy=taxonomy,
            augment=build_pipeline("light"), run_seed=7,
        )  # fmt: skip

    alone = _batches(stream(), workers=0, epochs=2)
    assert torch.equal(alone, _batches(stream(), workers=2, epochs=2))
    assert len({photo.numpy().tobytes() for photo in alone}) == 16


@pytest.mark.parametrize("where", ["seed", "data.stream.seed", "data.synthetic.seed"])
def test_a_negative_seed_is_refused_when_the_recipe_is_read(where, tmp_path):
    # Before: accepted, then numpy's "expected non-negative integer" once training began.
    import yaml

    from shanyraq.errors import ConfigError
    from training.recipe import load_recipe

    recipe = yaml.safe_load(Path("configs/train/demo.yaml").read_text(encoding="utf-8"))
    *parents, key = where.split(".")
    node = recipe
    for name in parents:
        node = node[name]
    node[key] = -1
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(ConfigError, match=where.split(".")[-1]):
        load_recipe(path)
