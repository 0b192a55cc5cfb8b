"""A synthetic stream's sign labels dropped by augmentation (a sign moved out of frame) are
counted, carried with the batch from the loader workers, and reach the run's metrics log and
run.json; counting changes no photo and no label trained on."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from shanyraq.config import default_configs_dir
from training.augment import build_pipeline
from training.data import EpochSampler, encode_targets, resized_from_bytes
from training.dataset_splits import load_splits
from training.loader import build_train_set
from training.recipe import SyntheticStreamData
from training.run_folder import METRICS_CSV, RUN_JSON, sign_label_record
from training.synth.photos import encode_jpeg
from training.synth.stream import SyntheticStream
from training.train import build_model, train
from vision.artifact import Preprocessing

SPEC = Preprocessing(size=48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
# Every example shifted by 40-45 % of the photo's side: most signs leave the frame.
SHOVE = (
    "name: shove\ntransforms:\n  - name: Affine\n"
    "    params: {translate_percent: [0.4, 0.45], border_mode: 0, p: 1.0}\n"
)


def _stream(taxonomy, pipeline: str) -> SyntheticStream:
    return SyntheticStream(
        seed=7, photos_per_epoch=8, size=64, spec=SPEC, taxonomy=taxonomy,
        augment=build_pipeline(pipeline, seed=3), run_seed=3,
    )  # fmt: skip


@pytest.fixture
def shove(tmp_path, monkeypatch) -> str:
    """The configs folder with a pipeline `shove` beside the shipped ones."""
    configs = Path(shutil.copytree(default_configs_dir(), tmp_path / "configs"))
    (configs / "augment" / "shove.yaml").write_text(SHOVE)
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(configs))
    return "shove"


@pytest.mark.parametrize("pipeline", ["phone", "shove"])
def test_an_example_names_the_labels_it_lost_and_trains_what_it_did(taxonomy, request, pipeline):
    if pipeline == "shove":
        request.getfixturevalue("shove")
    stream = _stream(taxonomy, pipeline)
    lost = 0
    for index in range(24):
        example = stream[index]
        # What the stream trained on before it counted: the same draws, without the count.
        labels, photo, rng = stream.render(index)
        low, high = stream.config.photos.jpeg_quality
        data = encode_jpeg(photo.image, int(rng.integers(low, high + 1)))
        rgb, kept = stream._augmented(resized_from_bytes(data, SPEC), labels, photo, index)
        assert torch.equal(example.pixels, torch.from_numpy(rgb)), index
        trained = encode_targets(kept, taxonomy)
        assert all(torch.equal(torch.as_tensor(a), torch.as_tensor(b))
                   for a, b in zip(example.targets, trained, strict=True))  # fmt: skip
        drawn = encode_targets(labels, taxonomy).signs
        assert torch.equal(example.signs_dropped, (drawn - trained.signs) > 0), index
        lost += int(example.signs_dropped.sum())
    if pipeline == "shove":
        assert lost > 0


def test_an_augmentation_without_geometry_drops_no_label(taxonomy):
    stream = _stream(taxonomy, "light")
    examples = [stream[i] for i in range(16)]
    assert sum(int(e.targets.signs.sum()) for e in examples) > 0  # signs were drawn
    assert not any(bool(e.signs_dropped.any()) for e in examples)


def _recipe(tiny_recipe, manifest: Path, out: Path, augment: str):
    config = tiny_recipe(manifest, out, loader={"num_workers": 1})  # counted in a worker
    stream = SyntheticStreamData(seed=11, photos_per_epoch=16, size=48)
    data = config.data.model_copy(update={"stream": stream})
    return config.model_copy(update={"data": data, "augment": augment})


def _expected(config, taxonomy) -> tuple[dict[str, int], dict[str, int], int]:
    """Sign labels drawn and dropped over the run's examples, counted in this process."""
    _, spec = build_model(config, taxonomy)
    stream = build_train_set(config, load_splits(config.data), spec, taxonomy)
    assert isinstance(stream, SyntheticStream)
    sampler = EpochSampler(len(stream), seed=config.seed)
    drawn = torch.zeros(len(taxonomy.sign_names), dtype=torch.int64)
    dropped = torch.zeros_like(drawn)
    seen = 0
    for epoch in range(config.optim.epochs):
        sampler.set_epoch(epoch)
        for index in sampler:
            example = stream[index]
            dropped += example.signs_dropped.to(torch.int64)
            drawn += example.signs_dropped.to(torch.int64) + example.targets.signs.to(torch.int64)
            seen += 1
    names = taxonomy.sign_names
    return (
        dict(zip(names, drawn.tolist(), strict=True)),
        dict(zip(names, dropped.tolist(), strict=True)),
        seen,
    )


@pytest.mark.slow
def test_a_resumed_stream_run_records_every_dropped_label(toy_manifest, tiny_recipe, tmp_path,
                                                          taxonomy, shove):  # fmt: skip
    config = _recipe(tiny_recipe, toy_manifest, tmp_path / "run", shove)
    train(config, stop_after_epoch=1)
    train(config, resume=True)
    drawn, dropped, seen = _expected(config, taxonomy)
    assert sum(dropped.values()) > 0 and seen == 32
    record = json.loads((tmp_path / "run" / RUN_JSON).read_text())["train_stream_sign_labels"]
    assert record == {"epochs_counted": 2, "examples": 32, "drawn": drawn, "dropped": dropped}
    with (tmp_path / "run" / METRICS_CSV).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2  # one per epoch, the first logged before the resume
    assert sum(int(r[f"sign_labels_dropped_{n}"]) for r in rows for n in dropped) == sum(
        dropped.values()
    )


@pytest.mark.slow
def test_a_stream_run_without_geometry_records_no_dropped_label(toy_manifest, tiny_recipe,
                                                                 tmp_path):  # fmt: skip
    train(_recipe(tiny_recipe, toy_manifest, tmp_path / "run", "light"))
    record = json.loads((tmp_path / "run" / RUN_JSON).read_text())["train_stream_sign_labels"]
    assert record["epochs_counted"] == 2 and record["examples"] == 32
    assert sum(record["drawn"].values()) > 0
    assert set(record["dropped"].values()) == {0}


def test_rows_logged_without_the_counts_are_left_out_of_the_record():
    """A run resumed over a log an older version wrote: its earlier epochs have no counts."""
    rows = [
        {"epoch": "1", "images": "16", "sign_labels_drawn_a": "", "sign_labels_dropped_a": ""},
        {"epoch": "2", "images": "16", "sign_labels_drawn_a": "5", "sign_labels_dropped_a": "2"},
        {"epoch": "3", "images": "16", "sign_labels_drawn_a": "4", "sign_labels_dropped_a": "1"},
    ]
    assert sign_label_record(rows, 3) == {
        "epochs_counted": 2, "examples": 32, "drawn": {"a": 9}, "dropped": {"a": 3}
    }  # fmt: skip
    assert sign_label_record(rows, 2)["dropped"] == {"a": 2}  # rows past the run's epochs
