"""render_photo and generate_photos: labels by construction, masks, determinism, manifests."""

from __future__ import annotations

import numpy as np
import pytest

from shanyraq.manifest import read_manifest
from shanyraq.manifest_check import check_manifest
from training.synth.photos import generate_photos, render_photo
from training.synth.spec import PhotoSpec


def _spec(room: str, signs: set[str], style: int = 0, condition: int | None = 3) -> PhotoSpec:
    return PhotoSpec(room=room, condition=condition, signs=frozenset(signs), style=style)


def test_render_photo_returns_labels_and_an_rgb_image():
    photo = render_photo(_spec("kitchen", {"damp_mould"}), size=128, rng=np.random.default_rng(0))
    assert photo.image.shape == (128, 128, 3)
    assert photo.image.dtype == np.uint8
    assert (photo.room, photo.condition, photo.signs, photo.style) == (
        "kitchen",
        3,
        frozenset({"damp_mould"}),
        0,
    )
    assert set(photo.sign_masks) == {"damp_mould"}
    assert photo.image.std() > 10  # a scene, not a flat frame


@pytest.mark.parametrize("room", ["kitchen", "bathroom", "bedroom", "living_room", "exterior"])
def test_every_allowed_sign_is_drawn_with_a_visible_mask(room, taxonomy):
    from training.synth.config import get_synth_config

    config = get_synth_config()
    for sign in taxonomy.sign_names:
        if room not in config.signs[sign].rooms:
            continue
        for seed in range(3):
            photo = render_photo(_spec(room, {sign}, style=seed), rng=np.random.default_rng(seed))
            mask = photo.sign_masks[sign]
            assert mask.shape == photo.image.shape[:2] and mask.dtype == bool
            assert mask.sum() >= 20, (room, sign, seed)


def test_not_dwelling_has_no_condition_no_signs_and_refuses_them():
    photo = render_photo(_spec("not_dwelling", set(), condition=None), rng=np.random.default_rng(1))
    assert photo.condition is None and photo.signs == frozenset() and photo.sign_masks == {}
    with pytest.raises(ValueError, match="no condition"):
        render_photo(_spec("not_dwelling", {"damp_mould"}), rng=np.random.default_rng(1))


def test_render_is_deterministic_for_a_seed_and_varies_across_seeds():
    spec = _spec("bedroom", {"overcrowding", "broken_window"})
    a = render_photo(spec, rng=np.random.default_rng(5)).image
    b = render_photo(spec, rng=np.random.default_rng(5)).image
    c = render_photo(spec, rng=np.random.default_rng(6)).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generate_photos_same_seed_same_bytes_and_passes_check(tmp_path, taxonomy):
    first = generate_photos(24, tmp_path / "a", seed=3, size=96)
    second = generate_photos(24, tmp_path / "b", seed=3, size=96)
    assert check_manifest(first, taxonomy) == []
    rows_a, rows_b = read_manifest(first).rows, read_manifest(second).rows
    assert [r.sha256 for r in rows_a] == [r.sha256 for r in rows_b]
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (
        tmp_path / "b" / "manifest.csv"
    ).read_bytes()
    assert all("style" in r.extra for r in rows_a)
    for row in rows_a:
        if row.room == taxonomy.not_dwelling:
            assert row.condition is None and row.signs == frozenset()
        else:
            assert row.condition in taxonomy.condition_values


def test_worker_processes_do_not_change_the_bytes(tmp_path):
    from training.synth.config import get_synth_config

    base = get_synth_config()
    one = base.model_copy(update={"photos": base.photos.model_copy(update={"workers": 1})})
    two = base.model_copy(update={"photos": base.photos.model_copy(update={"workers": 2})})
    a = generate_photos(64, tmp_path / "one", seed=8, size=40, config=one)
    b = generate_photos(64, tmp_path / "two", seed=8, size=40, config=two)
    assert a.read_bytes() == b.read_bytes()


def test_unusable_reasons_degrade_the_photo():
    from training.synth.families import PlannedPhoto

    def render(reason):
        spec = PlannedPhoto("f", "bedroom", 3, frozenset(), 2, reason is None, reason, 0.3, 0)
        return render_photo(spec, size=128, rng=np.random.default_rng(3)).image

    import cv2

    def sharpness(img):
        return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    usable = render(None)
    assert render("too_dark").mean() < 0.3 * usable.mean()
    assert render("overexposed").mean() > max(200, usable.mean())
    assert sharpness(render("blurred")) < 0.3 * sharpness(usable)


def test_masks_mark_changed_pixels_only_for_labelled_signs(taxonomy):
    photo = render_photo(
        _spec("living_room", {"premium_appliances", "damp_mould"}, style=4),
        rng=np.random.default_rng(11),
    )
    assert set(photo.sign_masks) == {"premium_appliances", "damp_mould"}
    plain = render_photo(_spec("living_room", set(), style=4), rng=np.random.default_rng(11))
    assert plain.sign_masks == {} and plain.signs == frozenset()


def test_a_photo_the_generator_cannot_draw_is_left_out_not_the_whole_set(
    tmp_path, monkeypatch, caplog
):
    import training.synth.photos as photos_module

    real = photos_module.render_photo
    calls = {"n": 0}

    def refuses_the_third(spec, **kw):  # as the generator does for a rare sample
        calls["n"] += 1
        if calls["n"] == 3:
            raise photos_module.RenderError("could not draw signs ['x'] visibly in a bedroom")
        return real(spec, **kw)

    monkeypatch.setattr(photos_module, "render_photo", refuses_the_third)
    manifest = photos_module.generate_photos(8, tmp_path / "set", seed=2, size=48)
    rows = read_manifest(manifest).rows
    assert len(rows) == 7 and "photos/000002.jpg" not in {r.path for r in rows}
    assert not (tmp_path / "set" / "photos" / "000002.jpg").exists()
    assert "photo 2 (000002.jpg) left out of the set" in caplog.text

    def refuses_all(spec, **kw):
        raise photos_module.RenderError("could not draw signs")

    monkeypatch.setattr(photos_module, "render_photo", refuses_all)
    with pytest.raises(photos_module.RenderError, match="none of the 4 photos"):
        photos_module.generate_photos(4, tmp_path / "none", seed=2, size=48)
