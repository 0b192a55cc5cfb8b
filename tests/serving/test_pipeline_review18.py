"""Review of the upload's photo pipeline (helper-187): the pixels scored are the pixels judged,
hashed and stored, upright and in the colours training reads; scores reach their own callers."""

from __future__ import annotations

import asyncio
import io
import threading

import numpy as np
import pytest
from PIL import Image

from benchmarks.bench_engine import service_pipeline  # the service's settings, unbatched
from serving.pipeline import Analysis, PhotoPipeline
from tests.serving.helpers import jpeg
from tests.vision.engine_fixtures import room_scene

ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    return make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3)


@pytest.fixture(scope="module")
def engine(model_dir):
    from vision.engine import Engine

    return Engine.load(model_dir)


def _png(image: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _turned_png(upright: np.ndarray, orientation: int) -> bytes:
    """`upright` stored turned, with the EXIF orientation that turns it back for display."""
    turns = {6: 1, 8: 3, 3: 2}[orientation]  # stored = upright turned counter-clockwise
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return _png(Image.fromarray(np.ascontiguousarray(np.rot90(upright, turns))), exif=exif)


def _assert_same_photo(turned: Analysis, upright: Analysis) -> None:
    np.testing.assert_array_equal(turned.decoded.pixels, upright.decoded.pixels)
    assert turned.quality == upright.quality
    assert turned.photo_hashes == upright.photo_hashes
    assert turned.decoded.display_size == upright.decoded.display_size
    if upright.model_input is None:
        assert turned.model_input is None
    else:
        np.testing.assert_array_equal(turned.model_input, upright.model_input)


@pytest.mark.slow  # exports a tiny model (ONNX)
@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_a_turned_photo_is_judged_hashed_and_scored_upright(engine, orientation):
    """Every stage sees the photo as the commission sees it: a phone's turned photo is judged,
    hashed (reuse) and given to the model upright, exactly as the same photo stored upright."""
    pixels = room_scene(4, height=300, width=420)
    pipeline = service_pipeline(engine)
    upright = pipeline.analyse(_png(Image.fromarray(pixels)))
    turned = pipeline.analyse(_turned_png(pixels, orientation))
    assert turned.decoded.metadata.orientation == orientation
    assert turned.decoded.size == (420, 300)  # width, height as shown
    _assert_same_photo(turned, upright)
    scores = pipeline.score_now([turned, upright])
    assert scores[0].room == pytest.approx(scores[1].room, abs=1e-6)


def _modes() -> dict[str, bytes]:
    """One photo in each colour mode a phone, scanner or editor may send."""
    rgb = Image.fromarray(room_scene(6, height=240, width=320))
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))))
    grey16 = Image.fromarray((np.asarray(rgb.convert("L"), np.uint16) * 257).astype(np.uint16))
    cmyk = io.BytesIO()
    rgb.convert("CMYK").save(cmyk, format="JPEG", quality=95)
    palette = rgb.quantize(64)
    palette.info["transparency"] = 0
    return {
        "RGBA": _png(rgba),
        "LA": _png(rgba.convert("LA")),
        "P+transparency": _png(palette, transparency=0),
        "P": _png(rgb.quantize(64)),
        "I;16": _png(grey16),
        "L": _png(rgb.convert("L")),
        "CMYK JPEG": cmyk.getvalue(),
    }


def _as_training_reads(data: bytes, spec) -> np.ndarray:
    """training.data's model input for `data`."""
    from training.data import resized_from_bytes
    from vision.preprocess import normalize

    return normalize(resized_from_bytes(data, spec), spec)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(_modes()))
def test_every_colour_mode_reaches_the_model_as_training_reads_it(engine, mode):
    """The model input of an upload is training's decode, resize and normalisation of the same
    bytes, whatever the colour mode; and quality and hashes are taken on those very pixels."""
    from vision.hashing import reuse_hashes
    from vision.quality import assess_quality

    data = _modes()[mode]
    pipeline = service_pipeline(engine)
    analysis = pipeline.analyse(data)
    spec = engine.artifact.preprocessing
    assert analysis.model_input is not None
    trained_on = _as_training_reads(data, spec)
    np.testing.assert_array_equal(analysis.model_input, trained_on)
    pixels = analysis.decoded.pixels
    assert pixels.dtype == np.uint8 and pixels.shape == (240, 320, 3)
    original = analysis.decoded.original_size
    assert analysis.quality == assess_quality(pixels, original_size=original)
    assert analysis.photo_hashes == reuse_hashes(pixels, pipeline.crop_fractions)


@pytest.mark.slow
def test_a_phone_size_jpeg_reaches_the_model_as_training_reads_it(engine, tmp_path):
    # Training and evaluation drafted a JPEG for the model's own size, uploads for
    # decode_side_for (512 px and up): a photo over twice the model's side took another DCT
    # scale (224 px model, 4032 x 3024 photo: mean 0.33, max 16 levels apart).
    from shanyraq.manifest import ManifestRow
    from training.logits import load_images

    data = jpeg(8, size=(1600, 1200))
    spec = engine.artifact.preprocessing
    analysis = service_pipeline(engine).analyse(data)
    assert analysis.model_input is not None
    np.testing.assert_array_equal(analysis.model_input, _as_training_reads(data, spec))
    (tmp_path / "phone.jpg").write_bytes(data)
    row = ManifestRow("phone.jpg", "0" * 64, "f", "test", None, None, None, "phone")
    [evaluated] = load_images([row], tmp_path, spec)
    np.testing.assert_array_equal(evaluated, analysis.decoded.pixels)


def _batched(engine, *, max_batch: int = 8, max_wait_ms: float = 50.0) -> PhotoPipeline:
    base = service_pipeline(engine)
    return PhotoPipeline(
        max_pixels=base.max_pixels, decode_short_side_px=base.decode_side,
        crop_fractions=base.crop_fractions, engine=engine, batching=True,
        max_batch=max_batch, max_wait_ms=max_wait_ms,
    )  # fmt: skip


def _dark_blurred() -> bytes:
    dark = (room_scene(5, height=300, width=400) // 8).astype(np.uint8)
    return _png(Image.fromarray(dark[::4, ::4].repeat(4, 0).repeat(4, 1)))


@pytest.mark.slow
def test_concurrent_uploads_each_get_their_own_photos_score_and_verdict(engine):
    """Photos batched together come back each with its own score (its sha256, the scores it
    gets alone) and its own quality verdict: a failed photo abstains, its neighbours do not
    inherit the reason."""
    pipeline = _batched(engine)
    photos = [
        jpeg(1),
        _dark_blurred(),
        jpeg(2, size=(500, 500)),
        _png(Image.fromarray(room_scene(7))),
    ]
    analyses = [pipeline.analyse(data) for data in photos]
    assert [a.quality.status for a in analyses][1] == "fail"
    alone = [pipeline.score_now([a])[0] for a in analyses]

    async def upload_all() -> list:
        try:
            return list(await asyncio.gather(*(pipeline.score(a) for a in analyses)))
        finally:
            await pipeline.aclose()

    scores = asyncio.run(upload_all())
    assert pipeline.batch_sizes == [len(photos)]  # one model call for all four
    for analysis, score, single in zip(analyses, scores, alone, strict=True):
        assert score is not None
        assert score.photo_sha256 == analysis.decoded.sha256
        assert score.model_version == pipeline.model_version == engine.model_version
        assert score.room == pytest.approx(single.room, abs=1e-5)
        assert score.abstain_reasons == single.abstain_reasons
        assert ("quality_fail" in score.abstain_reasons) == (analysis.quality.status == "fail")
        assert score.abstain or not score.abstain_reasons


@pytest.mark.slow
def test_a_model_error_for_one_photo_reaches_only_its_own_upload(engine, monkeypatch):
    """The model failing on one photo of a batch fails that upload alone; the others are
    scored as their own photos, never given a neighbour's score."""
    pipeline = _batched(engine)
    photos = [jpeg(3), jpeg(4), jpeg(5)]
    analyses = [pipeline.analyse(data) for data in photos]
    poisoned = analyses[1].decoded.sha256
    score_inputs = engine.score_inputs

    def failing(inputs, *, sha256s, quality=None):
        if poisoned in sha256s:
            raise RuntimeError("onnxruntime: failed to allocate memory")
        return score_inputs(inputs, sha256s=sha256s, quality=quality)

    monkeypatch.setattr(engine, "score_inputs", failing)

    async def upload_all() -> list:
        try:
            return list(
                await asyncio.gather(*(pipeline.score(a) for a in analyses), return_exceptions=True)
            )
        finally:
            await pipeline.aclose()

    results = asyncio.run(upload_all())
    assert isinstance(results[1], RuntimeError)
    for i in (0, 2):
        assert not isinstance(results[i], BaseException)
        assert results[i].photo_sha256 == analyses[i].decoded.sha256


def test_analysis_runs_in_worker_threads_at_most_cpu_workers_at_once():
    """The CPU stages never run on the event loop (an upload must not stall the others' routes),
    and no more of them run at once than `cpu_workers`."""
    pipeline = PhotoPipeline(
        max_pixels=10_000_000, decode_short_side_px=256, cpu_workers=2, engine=None,
        batching=False, max_batch=1, max_wait_ms=0.0,
    )  # fmt: skip
    analyse = pipeline.analyse
    threads: set[int] = set()
    running = 0
    most = 0
    lock = threading.Lock()

    def watched(data: bytes, *, on_stage=None) -> Analysis:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            threads.add(threading.get_ident())
            return analyse(data, on_stage=on_stage)
        finally:
            with lock:
                running -= 1

    pipeline.analyse = watched  # type: ignore[method-assign]

    async def upload_all() -> tuple[int, list[Analysis]]:
        loop_thread = threading.get_ident()
        ticks = 0

        async def ticker() -> None:  # the loop stays free to run other requests meanwhile
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        tick = asyncio.create_task(ticker())
        done = await asyncio.gather(
            *(pipeline.analyse_async(jpeg(i, size=(1200, 900))) for i in range(6))
        )
        tick.cancel()
        assert loop_thread not in threads
        return ticks, list(done)

    ticks, done = asyncio.run(upload_all())
    assert len(done) == 6 and all(a.model_input is None for a in done)
    assert 1 <= most <= 2
    assert ticks > 6


def test_without_a_model_the_photo_is_not_scored_and_says_so():
    pipeline = service_pipeline(None)
    analysis = pipeline.analyse(jpeg(0))
    assert asyncio.run(pipeline.score(analysis)) is None
    assert pipeline.model_version is None


@pytest.mark.slow
def test_an_upload_the_gate_fails_answers_with_its_scores_marked_quality_fail(tmp_path, model_dir):
    """The route carries the gate's verdict into the score it answers and stores: a photo the
    gate fails is scored, but abstains with quality_fail, and the stored photo says the same."""
    from tests.serving.helpers import started

    with started(tmp_path, model_dir=model_dir) as service:
        service.create_family("F1")
        answer = service.upload("F1", _dark_blurred())
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["quality"]["status"] == "fail"
        assert body["score_status"] == "scored"
        assert body["score"]["abstain"] is True
        assert "quality_fail" in body["score"]["abstain_reasons"]
        assert body["score"]["model_version"] == service.services.pipeline.model_version
        stored = service.client.get(
            f"/photos/{body['photo_id']}", headers=service.headers("commission")
        ).json()
        assert stored["score"]["abstain_reasons"] == body["score"]["abstain_reasons"]
        good = service.upload("F1", jpeg(9)).json()
        assert good["quality"]["status"] != "fail"
        assert "quality_fail" not in good["score"]["abstain_reasons"]
