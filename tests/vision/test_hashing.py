"""Reuse detection: hashes survive edits, crop hashes find crops; the index equals brute force."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from benchmarks.bench_hashing import EDITS  # the edits whose recall docs/benchmarks.md records
from tests.vision.engine_fixtures import room_scene
from vision.engine import load_engine_config
from vision.hashing import (
    HashIndex,
    HashingConfig,
    PhotoHash,
    PhotoHashes,
    candidates,
    perceptual_hash,
    reuse_hashes,
    same_photo,
)

CONFIG = load_engine_config().hashing
RADIUS = CONFIG.reuse_radius
CROPS = sorted(name for name in EDITS if "crop" in name)


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    return [room_scene(seed) for seed in range(12)]


@pytest.mark.parametrize("edit", sorted(set(EDITS) - set(CROPS)))
def test_edited_copies_stay_within_radius(scenes, edit):
    for scene in scenes:
        original, copy = perceptual_hash(scene), perceptual_hash(EDITS[edit](scene))
        assert original.distance(copy) <= RADIUS, edit


def test_most_cropped_copies_stay_within_radius(scenes):
    # A crop moves every block of a global hash: the radius trades crop recall (75 % of 60
    # rooms at 16 bits, docs/benchmarks.md) against false matches across many stored photos.
    found = [
        perceptual_hash(s).distance(perceptual_hash(EDITS["crop-4%"](s))) <= RADIUS for s in scenes
    ]
    assert sum(found) >= len(found) / 2


@pytest.mark.parametrize("edit", CROPS)
def test_crop_hashes_make_cropped_copies_candidates(scenes, edit):
    for scene in scenes:
        original = reuse_hashes(scene, CONFIG.crop_fractions)
        copy = reuse_hashes(EDITS[edit](scene), CONFIG.crop_fractions)
        assert copy.distance(original) <= CONFIG.candidate_radius, edit
        assert original.distance(copy) == copy.distance(original)


def test_different_photos_are_far_apart(scenes):
    hashes = [perceptual_hash(s) for s in scenes]
    distances = [a.distance(b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) > RADIUS


def test_hex_round_trip_and_grey_input(scenes):
    h = perceptual_hash(scenes[0])
    assert PhotoHash.from_hex(h.to_hex()) == h
    grey = cv2.cvtColor(scenes[0], cv2.COLOR_RGB2GRAY)
    assert perceptual_hash(grey).distance(h) <= 2
    with pytest.raises(ValueError):
        PhotoHash.from_hex("abc")


def test_reuse_hashes_hex_round_trip(scenes):
    hashes = reuse_hashes(scenes[0], CONFIG.crop_fractions)
    assert len(hashes.crops) == len(CONFIG.crop_fractions)
    assert hashes.full == perceptual_hash(scenes[0])
    assert PhotoHashes.from_hex(hashes.to_hex()) == hashes
    old = PhotoHashes.from_hex(hashes.full.to_hex())  # rows filed before crop hashes
    assert old.crops == () and old.padded(3) == (hashes.full,) * 3
    for bad in ("", "0" * 33, "0" * 160):
        with pytest.raises(ValueError):
            PhotoHashes.from_hex(bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"crop_fractions": (0.3,)},
        {"crop_fractions": (0.0,)},
        {"crop_fractions": (0.02, 0.04, 0.06, 0.08)},  # the row keeps three
        {"reuse_radius": 20, "candidate_radius": 16},
        {"max_candidates": 0},
        {"verification": {"min_inliers": 1}},
    ],
)
def test_config_is_validated(bad):
    # The shipped config with one change, so each case fails for its own value.
    shipped = CONFIG.model_dump()
    HashingConfig.model_validate(shipped)
    if "verification" in bad:
        bad = {"verification": {**shipped["verification"], **bad["verification"]}}
    with pytest.raises(ValidationError):
        HashingConfig.model_validate({**shipped, **bad})


def test_nearest_equals_brute_force():
    rng = np.random.default_rng(11)
    n, count = 3000, 3
    top = np.iinfo(np.uint64).max
    ph = rng.integers(0, top, (n, count), dtype=np.uint64, endpoint=True)
    dh = rng.integers(0, top, (n, count), dtype=np.uint64, endpoint=True)
    stored = [
        PhotoHashes(
            full=PhotoHash(int(ph[i, 0]), int(dh[i, 0])),
            crops=tuple(PhotoHash(int(ph[i, k]), int(dh[i, k])) for k in range(1, count)),
        )
        for i in range(n)
    ]
    query = stored[0]
    for i in range(1, 60):  # near copies of the query's full hash or of one of its crops
        k, flips = int(rng.integers(count)), int(rng.integers(0, 40))
        target = (query.full, *query.crops)[k]
        mask = sum(1 << int(b) for b in rng.choice(64, size=flips // 2, replace=False))
        near = PhotoHash(target.phash ^ mask, target.dhash ^ (mask >> 3))
        slot = int(rng.integers(count))
        hashes = [stored[i].full, *stored[i].crops]
        hashes[slot] = near
        stored[i] = PhotoHashes(full=hashes[0], crops=tuple(hashes[1:]))
    index = HashIndex(capacity=8, hashes_per_photo=count)
    ids = [f"p{i}" for i in range(n)]
    for i, photo_hashes in enumerate(stored):
        index.add(ids[i], photo_hashes)
    for radius, limit in ((0, None), (12, None), (24, 5), (40, None), (40, 16)):
        expected = sorted(
            ((ids[i], query.distance(h)) for i, h in enumerate(stored)),
            key=lambda x: (x[1], int(x[0][1:])),
        )
        expected = [e for e in expected if e[1] <= radius][:limit]
        assert index.nearest(query, radius=radius, limit=limit) == expected
    assert index.nbytes >= 16 * count * n


def test_index_query_equals_brute_force():
    rng = np.random.default_rng(7)
    n = 5000
    top = np.iinfo(np.uint64).max
    ph = rng.integers(0, top, n, dtype=np.uint64, endpoint=True)
    dh = rng.integers(0, top, n, dtype=np.uint64, endpoint=True)
    # Plant near copies of the query: flip a few bits.
    query = PhotoHash(int(ph[0]), int(dh[0]))
    for i, flips in zip(range(1, 40), rng.integers(0, 40, 39), strict=True):
        bits = rng.choice(128, size=int(flips), replace=False)
        p, d = int(ph[0]), int(dh[0])
        for b in bits:
            if b < 64:
                p ^= 1 << int(b)
            else:
                d ^= 1 << int(b - 64)
        ph[i], dh[i] = p, d
    index = HashIndex(capacity=16)  # forces several regrowths
    ids = [f"photo-{i}" for i in range(n)]
    for start in range(0, n, 1000):
        index.add_many(
            ids[start : start + 1000], ph[start : start + 1000], dh[start : start + 1000]
        )
    assert len(index) == n
    for radius in (0, 10, 20, 35, 60):
        expected = sorted(
            (
                (ids[i], PhotoHash(int(ph[i]), int(dh[i])).distance(query))
                for i in range(n)
                if PhotoHash(int(ph[i]), int(dh[i])).distance(query) <= radius
            ),
            key=lambda x: (x[1], int(x[0].split("-")[1])),
        )
        assert index.query(query, radius=radius) == expected


@pytest.mark.parametrize("count", [1, 3])
def test_index_save_load_and_add(tmp_path, scenes, count):
    index = HashIndex(hashes_per_photo=count)
    for i, scene in enumerate(scenes):
        index.add(f"p{i}", reuse_hashes(scene, CONFIG.crop_fractions[: count - 1]))
    index.save(tmp_path / "hashes.npz")
    again = HashIndex.load(tmp_path / "hashes.npz")
    assert again.hashes_per_photo == count
    copy = perceptual_hash(EDITS["jpeg-q40"](scenes[3]))
    hits = again.query(copy, radius=RADIUS)
    assert [hit_id for hit_id, _ in hits] == ["p3"]
    cropped = reuse_hashes(EDITS["crop-8%"](scenes[3]), CONFIG.crop_fractions)
    if count == 3:
        assert again.nearest(cropped, radius=CONFIG.candidate_radius, limit=1)[0][0] == "p3"
    assert again.nbytes >= 16 * count * len(scenes)


def test_index_saves_and_loads_at_exactly_the_path_given(tmp_path, scenes):
    index = HashIndex()
    index.add("p0", perceptual_hash(scenes[0]))
    index.save(tmp_path / "index.bin")  # np.savez alone would write index.bin.npz
    assert [p.name for p in tmp_path.iterdir()] == ["index.bin"]
    assert HashIndex.load(tmp_path / "index.bin").query(perceptual_hash(scenes[0]), radius=0)


def _blank_frames() -> dict[str, np.ndarray]:
    xx = np.mgrid[0:480, 0:640][1]
    frames: dict[str, np.ndarray] = {
        f"flat {v}": np.full((480, 640, 3), v, np.uint8) for v in (0, 1, 128, 200, 255)
    }
    frames["1x1 white"] = np.full((1, 1, 3), 255, np.uint8)
    frames["1x1 dark red"] = np.array([[[90, 5, 5]]], np.uint8)
    frames["grey strip 1x300"] = np.full((1, 300, 3), 77, np.uint8)
    frames["left-right ramp"] = np.repeat((xx * 255 // 639).astype(np.uint8)[..., None], 3, 2)
    return frames


def test_blank_frames_hashes_are_not_informative_and_photos_are(scenes):
    for name, frame in _blank_frames().items():
        assert not perceptual_hash(frame).informative, name
    assert all(perceptual_hash(scene).informative for scene in scenes)


def test_blank_frames_are_never_reuse_by_hash_alone():
    hashes = {name: reuse_hashes(f, CONFIG.crop_fractions) for name, f in _blank_frames().items()}
    index = HashIndex(hashes_per_photo=1 + len(CONFIG.crop_fractions))
    for name, h in hashes.items():
        index.add(name, h)
    for name, h in hashes.items():  # each frame its own family: any hit would be "reuse"
        found = candidates(index, h, family_of=str, family_id=name, config=CONFIG)
        assert found == [], name
        for other, g in hashes.items():
            assert not same_photo(h.full, g.full, None, None, CONFIG), (name, other)


def test_photos_still_match_by_hash_alone(scenes):
    copy = perceptual_hash(EDITS["jpeg-q40"](scenes[0]))
    assert same_photo(perceptual_hash(scenes[0]), copy, None, None, CONFIG)


def test_adding_an_id_again_replaces_its_hashes(scenes):
    first, second = (reuse_hashes(s, CONFIG.crop_fractions) for s in scenes[:2])
    index = HashIndex(hashes_per_photo=1 + len(CONFIG.crop_fractions))
    index.add("a", first)
    index.add("b", perceptual_hash(scenes[2]))
    index.add("a", first)  # the same photo filed twice: still one answer
    assert len(index) == 2
    assert index.query(first.full, radius=0) == [("a", 0)]
    assert index.nearest(first, radius=0) == [("a", 0)]
    index.add("a", second)  # new hashes for "a": the old ones are gone, "a" keeps its place
    assert index.query(first.full, radius=0) == []
    assert index.query(second.full, radius=0) == [("a", 0)]
    assert [k for k, _ in index.query(second.full, radius=128)] == ["a", "b"]


def test_add_many_keeps_the_last_hashes_of_a_repeated_id():
    index = HashIndex(hashes_per_photo=2)
    index.add_many(["x", "y"], np.array([1, 2], np.uint64), np.array([1, 2], np.uint64))
    index.add_many(
        ["y", "z", "y"],
        np.array([[7, 7], [3, 3], [8, 9]], np.uint64),
        np.array([[7, 7], [3, 3], [8, 9]], np.uint64),
    )
    assert len(index) == 3
    assert index.query(PhotoHash(8, 8), radius=0) == [("y", 0)]  # y's last full hash
    assert index.nearest(PhotoHashes(PhotoHash(9, 9)), radius=0) == [("y", 0)]  # and its crop
    assert index.query(PhotoHash(2, 2), radius=0) == []
    assert index.query(PhotoHash(7, 7), radius=0) == []
    assert [k for k, _ in index.query(PhotoHash(0, 0), radius=128)] == ["x", "y", "z"]
