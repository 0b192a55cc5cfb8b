"""Bulk scoring from bytes: one photo's failure, whatever it is, costs that photo only; stored
photos decode at the size uploads decode at, whatever the model's input size."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.vision.engine_fixtures import make_artifact, model_calls, room_scene
from tests.vision.io_helpers import rational_orientation
from vision.bulk import CpuBytesScorer, PhotoBytes, score_batches
from vision.engine import Engine, get_engine_config
from vision.gpu import TensorBytesScorer, jpeg_header

MAX_PIXELS = 50_000_000


def _encoded(rgb: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy):
    return make_artifact(tmp_path_factory.mktemp("bulk") / "model", taxonomy, size=32)


@pytest.fixture(scope="module")
def photos() -> list[PhotoBytes]:
    good = [_encoded(room_scene(i, height=60, width=80), "PNG") for i in range(3)]
    data = [good[0], rational_orientation(6, 0), good[1], b"\x89PNG\r\n\x1a\nBROKEN", good[2]]
    return [PhotoBytes(i, f"{i:064x}", d) for i, d in enumerate(data)]


def _unexpected_for(bad: bytes, exc: BaseException):
    """A vision.io.decode_image that raises `exc` for `bad` and decodes anything else."""
    import vision.io

    real = vision.io.decode_image

    def decode(data: bytes, **kw):
        if data == bad:
            raise exc
        return real(data, **kw)

    return decode


@pytest.mark.parametrize("threads", [1, 4])
def test_malformed_exif_and_unexpected_errors_cost_one_photo(model, photos, monkeypatch, threads):
    import vision.io

    bad = photos[2].data
    monkeypatch.setattr(vision.io, "decode_image", _unexpected_for(bad, RuntimeError("codec bug")))
    scorer = CpuBytesScorer(
        Engine.load(model), max_pixels=MAX_PIXELS, decode_short_side=None, decode_threads=threads
    )
    scored = [s for batch in score_batches(scorer, [photos[:3], photos[3:]]) for s in batch]
    assert [s.key for s in scored] == [0, 1, 2, 3, 4]
    assert [s.score is not None for s in scored] == [True, True, False, False, True]
    assert scored[2].error == "RuntimeError: codec bug"  # its type and message, for the report
    assert "damaged" in scored[3].error


def test_an_interrupt_is_not_one_photos_failure(model, photos, monkeypatch):
    import vision.io

    bad = photos[0].data
    monkeypatch.setattr(vision.io, "decode_image", _unexpected_for(bad, KeyboardInterrupt()))
    scorer = CpuBytesScorer(
        Engine.load(model), max_pixels=MAX_PIXELS, decode_short_side=None, decode_threads=1
    )
    with pytest.raises(KeyboardInterrupt):
        list(score_batches(scorer, [photos]))


def test_tensor_scorer_isolates_unexpected_errors_too(model, photos, monkeypatch):
    import vision.io

    bad = photos[2].data
    monkeypatch.setattr(vision.io, "decode_image", _unexpected_for(bad, RuntimeError("codec bug")))
    tensor = TensorBytesScorer(
        model, device="cpu", config=get_engine_config(), max_pixels=MAX_PIXELS
    )
    scored = [s for batch in score_batches(tensor, [photos]) for s in batch]
    assert [s.score is not None for s in scored] == [True, True, False, False, True]
    assert scored[2].error == "RuntimeError: codec bug"


def test_a_bulk_batch_is_one_model_call(model, monkeypatch):
    # `rescore --batch-size` and bench_gpu's "batch 32" reach the model as one call each, not
    # as calls of engine.yaml's old batching.max_batch (8).
    engine = Engine.load(model)
    calls = model_calls(engine, monkeypatch)
    png = _encoded(room_scene(0, height=40, width=50), "PNG")
    batch = [PhotoBytes(i, f"{i:064x}", png) for i in range(32)]
    scorer = CpuBytesScorer(engine, max_pixels=MAX_PIXELS, decode_short_side=None, decode_threads=1)
    scored = [s for done in score_batches(scorer, [batch, batch[:5]]) for s in done]
    assert len(scored) == 37 and all(s.score is not None for s in scored)
    assert calls == [32, 5]


@pytest.mark.parametrize(("stored", "expected"), [((6, 0), 1), ((13, 2), 1), ((6, 1), 6)])
def test_gpu_header_reads_orientation_as_the_cpu_path_does(stored, expected):
    data = rational_orientation(*stored)
    assert jpeg_header(data, max_pixels=MAX_PIXELS).orientation == expected


def test_stored_photos_decode_at_the_upload_size_for_a_large_model_input():
    config = get_engine_config()
    model_px = config.decode_short_side_px + 88  # e.g. 600 px for the shipped 512
    engine = SimpleNamespace(
        model_version="big", artifact=SimpleNamespace(preprocessing=SimpleNamespace(size=model_px))
    )
    scorer = CpuBytesScorer(
        engine,  # type: ignore[arg-type]  # only its version and input size are read
        max_pixels=MAX_PIXELS,
        decode_short_side=config.decode_short_side_px,
    )
    assert scorer.decode_short_side == config.decode_side_for(model_px)  # as serving.pipeline
    # A JPEG whose half-scale draft lies between the two sizes: the old size gave 550 px.
    short = 2 * config.decode_short_side_px + 76
    photo = PhotoBytes(
        0, "0" * 64, _encoded(room_scene(0, height=short, width=short + 300), "JPEG")
    )
    _, (pixels,) = scorer.prepare([photo])
    assert min(pixels.shape[:2]) >= model_px
