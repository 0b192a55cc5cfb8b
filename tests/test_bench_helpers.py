"""Benchmarks compare like with like and say what they measured (tiny inputs, no timing)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch


def test_ort_label_states_threads_and_spinning():
    from benchmarks.bench_engine import ort_threading
    from vision.engine import get_engine_config

    shipped = get_engine_config()  # configs/engine.yaml: the service does not spin, bulk does
    assert ort_threading(shipped.runtime).endswith("spinning off")
    assert ort_threading(shipped.alone().runtime).endswith("spinning on")
    for threads, label in ((0, "intra-op threads one per core"), (3, "3 intra-op thread(s)")):
        runtime = shipped.runtime.model_copy(update={"intra_op_threads": threads})
        assert ort_threading(runtime).startswith(label)


@pytest.mark.slow  # exports a tiny model (ONNX): about 8 s on the shared 2 cores
def test_end_to_end_runs_the_upload_path_on_the_service_engine(
    tmp_path, taxonomy, make_image, monkeypatch
):
    import cv2

    import vision.hashing
    from benchmarks.bench_engine import _end_to_end
    from tests.vision.engine_fixtures import make_artifact
    from vision.engine import Engine

    engine = Engine.load(make_artifact(tmp_path / "model", taxonomy), taxonomy=taxonomy)
    crops_hashed = []
    reuse_hashes = vision.hashing.reuse_hashes

    def spy(rgb: np.ndarray, crop_fractions: tuple[float, ...]) -> object:
        crops_hashed.append(crop_fractions)
        return reuse_hashes(rgb, crop_fractions)

    monkeypatch.setattr(vision.hashing, "reuse_hashes", spy)
    jpegs = [make_image(size=(640, 480), seed=i) for i in range(2)]
    size = engine.artifact.preprocessing.size
    batch = np.zeros((2, 3, size, size), dtype=np.float32)
    threads = cv2.getNumThreads()

    result = _end_to_end(engine, jpegs, batch, min_seconds=0.0)

    assert cv2.getNumThreads() == threads  # the service's single OpenCV thread is undone
    assert crops_hashed and set(crops_hashed) == {engine.config.hashing.crop_fractions}
    assert result.baseline_rate > 0 and result.candidate_rate > 0
    assert "service's engine" in result.notes and "spinning off" in result.notes
    assert "one thread" in result.notes and "threads as configured" in result.notes
    shares = result.notes.split("Time per stage: ")[1].split(". ")[0].split(", ")
    # serving/pipeline.py's analyse stages, in its order, then the micro-batch's model call
    assert [share.split()[0] for share in shares] == [
        "decode",
        "quality",
        "resize",
        "hash",
        "score",
    ]


def test_train_baseline_targets_match_the_candidates(tmp_path, taxonomy):
    import timm.data
    from PIL import Image
    from torch.utils.data import default_collate

    from benchmarks.bench_train import _config, room_classes, room_only_targets
    from training.data import encode_targets
    from training.train import build_loss
    from vision.model import ModelOutput

    # timm's image folder, with the room head's class indices.
    rooms = [taxonomy.room_names[-1], taxonomy.room_names[0]]
    for room in rooms:
        (tmp_path / "folder" / room).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "folder" / room / "a.jpg")
    dataset = timm.data.create_dataset(
        "", root=str(tmp_path / "folder"), class_map=room_classes(taxonomy)
    )
    assert sorted(target for _, target in dataset) == sorted(
        taxonomy.room_names.index(room) for room in rooms
    )

    # The same fields, shapes and dtypes as the candidate's collated manifest targets.
    room = next(name for name in taxonomy.room_names if name != taxonomy.not_dwelling)
    row = SimpleNamespace(room=room, condition=2, signs=frozenset(taxonomy.sign_names[:1]))
    candidate = default_collate([encode_targets(row, taxonomy)] * 4)
    baseline = room_only_targets(candidate.room, taxonomy)
    for ours, theirs in zip(baseline, candidate, strict=True):
        assert isinstance(ours, torch.Tensor) and isinstance(theirs, torch.Tensor)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype

    # Every head's term does work on them (none is masked away).
    loss_fn = build_loss(_config(tmp_path / "m.csv", tmp_path / "run"), [], taxonomy)
    out = ModelOutput(
        room=torch.randn(4, taxonomy.head_size("room")),
        condition=torch.randn(4, taxonomy.head_size("condition") - 1),  # coral
        signs=torch.randn(4, taxonomy.head_size("signs")),
        embedding=torch.randn(4, 8),
    )
    parts = loss_fn(out, baseline)
    assert all(float(p) > 0 for p in parts)


def test_service_alternates_and_reports_each_sides_spread(tmp_path):
    from benchmarks.bench_service import (
        Run,
        _prepare,
        alternate,
        service_result,
        shipped_batching,
    )
    from serving.core.config import load_serving_settings

    calls: list[bool] = []

    def measure(batched: bool) -> Run:
        calls.append(batched)
        return Run(rate=10.0 * len(calls), p50_s=0.5, p95_s=0.9)

    base, cand = alternate(measure, runs=2)
    assert calls == [False, True, False, True]
    b = shipped_batching()
    result = service_result("M", b, base, cand, kib=100.0)
    assert result.candidate == f"micro-batching (max {b.max_batch}, {b.max_wait_ms:g} ms)"
    assert (result.baseline_rate, result.candidate_rate) == (30.0, 40.0)
    assert "unbatched 10.0-30.0, batched 20.0-40.0" in result.notes

    # The server under test gets the shipped batching, switched on or off.
    off = b.model_copy(update={"enabled": False})
    written = load_serving_settings(_prepare(tmp_path, model_dir=tmp_path, batching=off))
    assert written.batching == off


def test_synth_note_counts_this_machines_cores(monkeypatch):
    from benchmarks import bench_synth

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    (result,) = bench_synth.run(n_photos=4, min_seconds=0.0)
    assert "on this machine's 4 cores if idle" in result.notes
    assert result.candidate.startswith("generate_photos (1 worker process(es)")  # < 64 photos
    cpu_ms = float(result.notes.split(" ms CPU")[0])
    estimate = int(result.notes.split("about ")[1].split(" photos/s")[0])
    assert estimate == pytest.approx(4000 / cpu_ms, rel=0.02)  # cpu_ms printed rounded
