"""Training on photos rendered on the fly: deterministic per index, held-out styles never drawn."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from training.data import IGNORE, encode_targets
from training.run_folder import LAST, RUN_JSON
from training.synth.stream import SyntheticStream, stream_sha256
from training.train import train
from vision.artifact import Preprocessing

SPEC = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _stream(taxonomy, **kw) -> SyntheticStream:
    return SyntheticStream(
        **{"seed": 5, "photos_per_epoch": 12, "size": 48, "spec": SPEC, "taxonomy": taxonomy, **kw}
    )


def test_an_example_is_rendered_from_the_seed_and_its_index_alone(taxonomy):
    a, b = _stream(taxonomy), _stream(taxonomy)
    for i in (3, 0, 7):  # b has drawn other examples first, as a loader worker would have
        b[i]
    first = a[30]
    again = b[30]
    assert first.pixels.dtype == torch.uint8 and first.pixels.shape == (32, 32, 3)
    assert torch.equal(first.pixels, again.pixels)
    assert first.targets.room == again.targets.room
    assert not torch.equal(first.pixels, a[31].pixels)
    assert not torch.equal(first.pixels, _stream(taxonomy, seed=6)[30].pixels)
    # Index 30 is in the third epoch of 12 photos: a new photo, not photo 6 again.
    assert not torch.equal(first.pixels, a[6].pixels)


def test_a_sample_the_generator_cannot_draw_is_drawn_again_from_the_index(taxonomy, monkeypatch):
    import training.synth.stream as stream_module

    stream = _stream(taxonomy)
    refused = stream.labels(4)
    real = stream_module.render_photo

    def picky(labels, **kw):  # as the generator does for a rare sample it cannot draw
        if labels == refused:
            raise stream_module.RenderError("could not draw signs")
        return real(labels, **kw)

    monkeypatch.setattr(stream_module, "render_photo", picky)
    labels, _, _ = stream.render(4)
    assert labels == stream.labels(4, draw=1) != refused
    assert torch.equal(stream[4].pixels, _stream(taxonomy)[4].pixels)  # deterministic redraw
    assert stream[4].targets.room == taxonomy.room_names.index(labels.room)

    def never(labels, **kw):
        raise stream_module.RenderError("could not draw signs")

    monkeypatch.setattr(stream_module, "render_photo", never)
    with pytest.raises(stream_module.RenderError, match="no drawable sample in 8 draws"):
        stream[4]


def test_a_stream_can_show_the_same_photos_every_epoch(taxonomy):
    from training.augment import build_pipeline

    same = _stream(taxonomy, new_photos_each_epoch=False)
    assert torch.equal(same[12 + 5].pixels, same[5].pixels)  # epoch 2, photo 5: unaugmented
    assert same.description(epochs=2)["new_photos_each_epoch"] is False
    augmented = _stream(taxonomy, new_photos_each_epoch=False, augment=build_pipeline("phone"))
    again = augmented[12 + 5]
    assert again.targets.room == augmented[5].targets.room
    assert not torch.equal(again.pixels, augmented[5].pixels)  # augmented anew each epoch


def test_targets_follow_the_labels_and_not_dwelling_trains_the_room_head_only(taxonomy):
    stream = _stream(taxonomy, photos_per_epoch=200, size=32)
    labels = [stream.labels(i) for i in range(200)]
    for label, target in zip(labels, stream.targets, strict=True):
        expected = encode_targets(label, taxonomy)
        assert target.room == expected.room and target.condition == expected.condition
        assert torch.equal(target.signs, expected.signs)
    rooms = {label.room for label in labels}
    assert taxonomy.not_dwelling in rooms and len(rooms) >= 4
    away = [t for t, lab in zip(stream.targets, labels, strict=True) if lab.room == "not_dwelling"]
    assert all(t.condition == IGNORE and not t.signs_known for t in away)
    # Homes share a style: consecutive photos of one home look alike in style.
    per_home = stream.config.photos.photos_per_home
    assert len({labels[i].style for i in range(per_home)}) == 1


def test_held_out_styles_are_never_drawn(taxonomy):
    stream = _stream(taxonomy, photos_per_epoch=1, exclude_styles=(0, 1, 2, 3))
    styles = {stream.labels(i).style for i in range(600)}
    assert styles.isdisjoint({0, 1, 2, 3}) and len(styles) > 4
    with pytest.raises(ValueError, match="every synthetic style is held out"):
        _stream(taxonomy, exclude_styles=tuple(range(stream.config.photos.n_styles)))


def test_the_training_data_hash_covers_the_stream_and_the_generator(taxonomy):
    stream = _stream(taxonomy)
    described = stream.description(epochs=3)
    base = stream_sha256(described, stream.config)
    assert stream_sha256({**described, "epochs": 4}, stream.config) != base
    photos = stream.config.photos.model_copy(update={"jpeg_quality": (40, 41)})
    other = stream.config.model_copy(update={"photos": photos})
    assert stream_sha256(described, other) != base


@pytest.mark.slow
def test_a_stream_run_resumes_exactly_and_records_its_data(toy_manifest, tmp_path, tiny_recipe):
    from training.recipe import SyntheticStreamData

    def recipe(out):
        config = tiny_recipe(toy_manifest, out, loader={"num_workers": 1})
        stream = SyntheticStreamData(seed=11, photos_per_epoch=16, size=48)
        return config.model_copy(update={"data": config.data.model_copy(update={"stream": stream})})

    train(recipe(tmp_path / "straight"))
    train(recipe(tmp_path / "resumed"), stop_after_epoch=1)
    train(recipe(tmp_path / "resumed"), resume=True)
    a = torch.load(tmp_path / "straight" / LAST, weights_only=True)
    b = torch.load(tmp_path / "resumed" / LAST, weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    info = json.loads((tmp_path / "straight" / RUN_JSON).read_text())
    assert info["train_stream"]["seed"] == 11 and info["n_photos"]["train"] == 32
    assert info["training_data_sha256"] != info["manifest_sha256"]


def test_recipe_refuses_a_stream_that_shares_the_manifest_seed_or_samples(tmp_path):
    from training.recipe import TrainConfig

    base = {
        "name": "s",
        "data": {"manifest": "m.csv", "synthetic": {"n_photos": 10, "seed": 4},
                 "stream": {"seed": 4, "photos_per_epoch": 10}},
        "model": {"variant": "shanyraq_test"},
        "optim": {"epochs": 1, "batch_size": 2, "lr": 0.1},
        "output_dir": str(tmp_path),
    }  # fmt: skip
    with pytest.raises(ValidationError, match=r"must differ from data\.synthetic\.seed"):
        TrainConfig.model_validate(base)
    base["data"]["stream"]["seed"] = 5  # type: ignore[index]
    TrainConfig.model_validate(base)
    with pytest.raises(ValidationError, match="cannot draw from a stream"):
        TrainConfig.model_validate({**base, "optim": {**base["optim"], "class_balance": "sampler"}})
