"""Bulk scoring under review: each photo keeps its own score however its decode finishes, a bad
photo costs that photo only, and the read-ahead thread is bounded and always ends."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.vision.engine_fixtures import make_artifact, room_scene
from vision.bulk import CpuBytesScorer, PhotoBytes, prefetch, score_batches
from vision.engine import Engine

MAX_PIXELS = 50_000_000
WAIT_S = 10.0  # only ever reached when something is already wrong


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "shanyraq-prefetch"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, taxonomy) -> Engine:
    return Engine.load(make_artifact(tmp_path_factory.mktemp("bulk17") / "model", taxonomy))


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    return [room_scene(10 + i, height=40 + 4 * i, width=56) for i in range(4)]


def _scorer(engine: Engine, threads: int) -> CpuBytesScorer:
    return CpuBytesScorer(
        engine, max_pixels=MAX_PIXELS, decode_short_side=None, decode_threads=threads
    )


def _alone(engine: Engine, rgb: np.ndarray, sha256: str) -> dict[str, float]:
    (score,) = engine.score([rgb], sha256s=[sha256])
    return score.room


def test_decodes_finishing_out_of_order_keep_each_photo_its_own_score(engine, scenes, monkeypatch):
    import vision.io

    real = vision.io.decode_image
    first, last = _png(scenes[0]), _png(scenes[-1])
    last_done = threading.Event()

    def decode(data: bytes, **kw):
        if data == first:  # the first photo's decode ends only after the last one's
            assert last_done.wait(WAIT_S)
        decoded = real(data, **kw)
        if data == last:
            last_done.set()
        return decoded

    monkeypatch.setattr(vision.io, "decode_image", decode)
    photos = [PhotoBytes(10 + i, f"{i:064x}", _png(rgb)) for i, rgb in enumerate(scenes)]
    scored = [s for done in score_batches(_scorer(engine, 4), [photos]) for s in done]
    assert last_done.is_set()
    assert [s.key for s in scored] == [10, 11, 12, 13]
    for s, rgb, photo in zip(scored, scenes, photos, strict=True):
        assert s.score is not None and s.score.photo_sha256 == photo.sha256
        assert s.score.room == pytest.approx(_alone(engine, rgb, photo.sha256), abs=1e-5)


@pytest.mark.parametrize("threads", [1, 4])
def test_a_batch_of_only_bad_photos_reports_each_and_the_run_goes_on(engine, scenes, threads):
    bad = [b"", b"not a photo", b"\x89PNG\r\n\x1a\nBROKEN"]
    batches = [
        [PhotoBytes(i, f"{i:064x}", data) for i, data in enumerate(bad)],
        [PhotoBytes(7, "7" * 64, _png(scenes[0]))],
    ]
    scored = [s for done in score_batches(_scorer(engine, threads), batches) for s in done]
    assert [s.key for s in scored] == [0, 1, 2, 7]
    assert [s.score is None for s in scored] == [True, True, True, False]
    assert all(s.error and "\n" not in s.error for s in scored[:3])
    assert scored[3].error == ""


def test_an_empty_input_and_an_empty_batch(engine):
    scorer = _scorer(engine, 4)
    assert list(score_batches(scorer, [])) == []
    assert list(score_batches(scorer, [[]])) == [[]]


def test_the_last_partial_batch_is_scored(engine, scenes):
    photos = [PhotoBytes(i, f"{i:064x}", _png(scenes[i % 4])) for i in range(7)]
    batches = [photos[0:3], photos[3:6], photos[6:]]
    done = list(score_batches(_scorer(engine, 2), batches))
    assert [[s.key for s in batch] for batch in done] == [[0, 1, 2], [3, 4, 5], [6]]
    assert all(s.score is not None for batch in done for s in batch)


def test_an_error_in_the_work_is_raised_at_its_item_and_the_thread_ends():
    def fn(item: int) -> int:
        if item == 2:
            raise RuntimeError("decode thread failed")
        return item * 10

    got: list[int] = []
    with pytest.raises(RuntimeError, match="decode thread failed"):
        for value in prefetch(range(5), fn):
            got.append(value)
    assert got == [0, 10]
    assert _prefetch_threads() == []


def test_an_error_in_the_source_is_raised_too():
    def source() -> Iterator[int]:
        yield 1
        raise OSError("store unreadable")

    with pytest.raises(OSError, match="store unreadable"):
        list(prefetch(source(), lambda item: item))
    assert _prefetch_threads() == []


def test_read_ahead_is_bounded_and_closing_early_stops_the_thread():
    asked: list[int] = []
    over_read = threading.Event()

    def source() -> Iterator[int]:
        for i in itertools.count():
            asked.append(i)
            if i > 3:  # item 0 held by the caller, 1 queued, 2 made and waiting: no further
                over_read.set()
            yield i

    stream = prefetch(source(), lambda item: item, depth=1)
    assert next(stream) == 0
    assert not over_read.wait(0.3)  # an unbounded queue reads on at once, without end
    stream.close()
    assert _prefetch_threads() == []
    assert max(asked) <= 3


def test_an_interrupt_in_the_caller_leaves_no_thread_running():
    def consume() -> None:
        for value in prefetch(itertools.count(), lambda item: item):
            if value == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        consume()
    assert _prefetch_threads() == []


def test_an_interrupt_in_a_decode_thread_stops_the_run(engine, scenes, monkeypatch):
    import vision.io

    real = vision.io.decode_image
    bad = _png(scenes[1])

    def decode(data: bytes, **kw):
        if data == bad:
            raise KeyboardInterrupt
        return real(data, **kw)

    monkeypatch.setattr(vision.io, "decode_image", decode)
    photos = [PhotoBytes(i, f"{i:064x}", _png(rgb)) for i, rgb in enumerate(scenes)]
    with pytest.raises(KeyboardInterrupt):
        list(score_batches(_scorer(engine, 4), [photos[:2], photos[2:]]))
    assert _prefetch_threads() == []
