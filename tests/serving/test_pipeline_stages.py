"""The upload's per-photo stages are `PhotoPipeline.analyse`'s, and the benchmark times those."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from benchmarks.bench_engine import service_pipeline  # the service's settings, unbatched
from serving.pipeline import Analysis, PhotoPipeline
from shanyraq.errors import ImageError
from tests.serving.helpers import jpeg
from tests.vision.engine_fixtures import room_scene

STAGES = ["decode", "quality", "resize", "hash"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact
    from vision.engine import Engine

    return Engine.load(make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3))


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _photos() -> list[bytes]:
    """A phone-size JPEG (decoded at reduced scale), a room-like PNG, and a dark, blurred one."""
    dark = (room_scene(5, height=300, width=400) // 8).astype(np.uint8)
    return [jpeg(1, size=(1600, 1200)), _png(room_scene(2)), _png(dark[::4, ::4].repeat(4, 0))]


def _analyse_as_before(pipeline: PhotoPipeline, data: bytes) -> Analysis:
    """`analyse` as it was before its stages were named (commit e37a4a2), kept as the oracle."""
    from vision.hashing import reuse_hashes
    from vision.io import decode_image
    from vision.quality import assess_quality

    decoded = decode_image(data, max_pixels=pipeline.max_pixels, target_size=pipeline.decode_side)
    verdict = assess_quality(decoded.pixels, original_size=decoded.original_size)
    engine = pipeline.engine
    model_input = engine.prepare(decoded.pixels) if engine is not None else None
    return Analysis(
        decoded=decoded,
        quality=verdict,
        photo_hashes=reuse_hashes(decoded.pixels, pipeline.crop_fractions),
        model_input=model_input,
    )


def _assert_same(got: Analysis, expected: Analysis) -> None:
    a, b = got.decoded, expected.decoded
    assert (a.sha256, a.format, a.original_size, a.metadata) == (
        b.sha256,
        b.format,
        b.original_size,
        b.metadata,
    )
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert got.quality == expected.quality
    assert got.photo_hashes == expected.photo_hashes
    if expected.model_input is None:
        assert got.model_input is None
    else:
        assert got.model_input is not None
        assert got.model_input.dtype == expected.model_input.dtype
        np.testing.assert_array_equal(got.model_input, expected.model_input)


@pytest.mark.slow  # exports a tiny model (ONNX)
@pytest.mark.parametrize("with_model", [True, False])
def test_analyse_gives_what_it_gave_before(engine, with_model):
    pipeline = service_pipeline(engine if with_model else None)
    photos = _photos()
    statuses = set()
    for data in photos:
        expected = _analyse_as_before(pipeline, data)
        _assert_same(pipeline.analyse(data), expected)
        _assert_same(pipeline.analyse(data, on_stage=lambda stage, seconds: None), expected)
        statuses.add(expected.quality.status)
    assert "pass" in statuses and "fail" in statuses  # the photos exercise the gate both ways


@pytest.mark.slow
@pytest.mark.parametrize("with_model", [True, False])
def test_the_hook_is_told_every_stage_once_per_photo_in_order(engine, with_model):
    pipeline = service_pipeline(engine if with_model else None)
    told: list[tuple[str, float]] = []
    photos = _photos()
    for data in photos:
        pipeline.analyse(data, on_stage=lambda stage, seconds: told.append((stage, seconds)))
    assert [stage for stage, _ in told] == STAGES * len(photos)
    assert all(seconds >= 0 for _, seconds in told)
    decode_seconds = [s for stage, s in told if stage == "decode"]
    assert decode_seconds[0] > 0  # a 1600 x 1200 JPEG takes measurable time: real timings


def test_a_refused_photo_raises_the_decoders_error_and_ends_no_stage():
    from vision.io import decode_image

    pipeline = service_pipeline(None)
    bad = jpeg(0)[:200]
    with pytest.raises(ImageError) as direct:
        decode_image(bad, max_pixels=pipeline.max_pixels, target_size=pipeline.decode_side)
    told: list[str] = []
    with pytest.raises(ImageError) as refused:
        pipeline.analyse(bad, on_stage=lambda stage, seconds: told.append(stage))
    assert type(refused.value) is type(direct.value) and refused.value.code == direct.value.code
    assert str(refused.value) == str(direct.value)
    assert told == []


def test_a_stage_that_raises_passes_its_error_through_unreported(monkeypatch):
    import vision.quality

    failure = RuntimeError("quality gate broke")

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(vision.quality, "assess_quality", broken)
    told: list[str] = []
    with pytest.raises(RuntimeError) as raised:
        service_pipeline(None).analyse(jpeg(0), on_stage=lambda stage, seconds: told.append(stage))
    assert raised.value is failure
    assert told == ["decode"]


@pytest.mark.slow
def test_score_now_is_one_micro_batch_of_score(engine):
    import anyio

    pipeline = service_pipeline(engine)
    analyses = [pipeline.analyse(data) for data in _photos()]
    inputs = np.stack([a.model_input for a in analyses])
    expected = engine.score_inputs(
        inputs,
        sha256s=[a.decoded.sha256 for a in analyses],
        quality=[a.quality for a in analyses],
    )
    assert pipeline.score_now(analyses) == expected
    one = anyio.run(pipeline.score, analyses[0])
    assert one is not None and one.photo_sha256 == analyses[0].decoded.sha256
    assert one.room == pytest.approx(expected[0].room, abs=1e-5)
    with pytest.raises(ValueError, match="no model loaded"):
        service_pipeline(None).score_now(analyses)


@pytest.mark.slow
def test_the_benchmark_times_the_pipelines_own_stages_then_score(engine, monkeypatch):
    from benchmarks.bench_engine import upload_work
    from shanyraq.config import get_settings
    from vision.engine import get_engine_config

    pipeline = service_pipeline(engine)
    config, size = get_engine_config(), engine.artifact.preprocessing.size
    assert pipeline.max_pixels == get_settings().io.max_pixels
    assert pipeline.decode_side == config.decode_side_for(size)
    assert pipeline.crop_fractions == config.hashing.crop_fractions
    photos = _photos()
    analysed: list[bytes] = []
    analyse = PhotoPipeline.analyse

    def spy(self, data, *, on_stage=None):
        analysed.append(data)
        return analyse(self, data, on_stage=on_stage)

    monkeypatch.setattr(PhotoPipeline, "analyse", spy)
    stage_seconds: dict[str, float] = {}
    assert upload_work(pipeline, photos, stage_seconds) == len(photos)
    assert analysed == photos  # the pipeline's analyse, once per photo
    assert list(stage_seconds) == [*STAGES, "score"]
    assert all(seconds > 0 for seconds in stage_seconds.values())
