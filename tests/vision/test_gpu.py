"""The GPU path's pure parts on the CPU (resize, normalise, orientation, pipelining, the tensor
scorer on device "cpu") against vision.preprocess and the CPU scorer; the CUDA path itself
only where a GPU is usable (marked `gpu`, skipped otherwise).

Stated tolerance: resized pixels differ from vision.preprocess by at most 1 grey level (cv2
rounds in fixed point) and by under 0.3 grey levels on average; so each normalised input
value differs by at most 1 / (255 * std). Scores from the tensor path agree with the CPU path
within 0.02 per probability (JPEG decoders differ by a grey level here and there).
"""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from shanyraq.errors import ImageTooLargeError
from tests.vision.engine_fixtures import make_artifact, room_scene
from vision.artifact import Preprocessing
from vision.bulk import CpuBytesScorer, PhotoBytes, open_scorer, prefetch, score_batches
from vision.engine import Engine
from vision.gpu import TensorBytesScorer, gpu_usable, jpeg_header
from vision.io import decode_image
from vision.preprocess import normalize, resize
from vision.tensor_preprocess import normalize_tensor, orient_tensor, resize_tensor

MAX_PIXELS = 50_000_000
PIXEL_TOLERANCE, MEAN_TOLERANCE, SCORE_TOLERANCE = 1, 0.3, 0.02
SIZES = [(480, 640), (97, 203), (40, 30), (300, 1000), (128, 64), (40, 300), (1500, 2000)]
GPU, WHY_NOT = gpu_usable()


def _spec(resize_policy: str = "squash", interpolation: str = "bilinear") -> Preprocessing:
    return Preprocessing(
        size=64, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        resize=resize_policy, interpolation=interpolation,
    )  # fmt: skip


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def _jpeg(rgb: np.ndarray, *, orientation: int = 1, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("policy", ["squash", "shorter_side_crop", "letterbox"])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "area"])
def test_resize_agrees_with_vision_preprocess(policy, interpolation):
    spec = _spec(policy, interpolation)
    for seed, (height, width) in enumerate(SIZES):
        rgb = room_scene(seed, height=height, width=width)
        expected = resize(rgb, spec).astype(np.int16)
        got = resize_tensor(_chw(rgb), spec).permute(1, 2, 0).numpy().astype(np.int16)
        diff = np.abs(expected - got)
        assert got.shape == expected.shape
        assert diff.max() <= PIXEL_TOLERANCE, (height, width, diff.max())
        assert diff.mean() <= MEAN_TOLERANCE, (height, width, diff.mean())


def test_normalize_agrees_with_vision_preprocess():
    spec = _spec()
    batch = np.stack([resize(room_scene(s, height=80, width=90), spec) for s in range(3)])
    got = normalize_tensor(torch.from_numpy(batch).permute(0, 3, 1, 2), spec).numpy()
    expected = np.stack([normalize(image, spec) for image in batch])
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pil_exif_transpose(orientation):
    rgb = room_scene(orientation, height=40, width=64)
    data = _jpeg(rgb, orientation=orientation)
    upright = decode_image(data, max_pixels=MAX_PIXELS).pixels  # PIL applies the EXIF tag
    stored = np.array(Image.open(io.BytesIO(data)).convert("RGB"))  # as the file holds it
    got = orient_tensor(_chw(stored), orientation).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, upright)


def test_jpeg_header_lets_our_pixel_limit_decide_not_pillows(monkeypatch):
    # Pillow refuses at twice its MAX_IMAGE_PIXELS; lowered here (restored after the test) so
    # that a small photo lies between Pillow's limit and ours, as a 100 MP one would.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = _jpeg(room_scene(0, height=48, width=64), orientation=6)
    assert jpeg_header(data, max_pixels=5000).orientation == 6
    with pytest.raises(ImageTooLargeError, match="64x48"):
        jpeg_header(data, max_pixels=3000)


def test_prefetch_keeps_order_and_works_one_item_ahead():
    second_started = threading.Event()

    def work(item: int) -> int:
        if item == 1:
            second_started.set()
        return item * 10

    results = []
    for value in prefetch(range(5), work, depth=1):
        if value == 0:  # while the caller holds item 0, item 1 is being prepared
            assert second_started.wait(timeout=30)
        results.append(value)
    assert results == [0, 10, 20, 30, 40]


def test_prefetch_raises_at_the_failing_item_and_stops_early():
    calls = []

    def work(item: int) -> int:
        calls.append(item)
        if item == 2:
            raise ValueError("bad item")
        return item

    seen = []
    with pytest.raises(ValueError, match="bad item"):
        for value in prefetch(range(100), work):
            seen.append(value)
    assert seen == [0, 1] and max(calls) == 2

    produced = []

    def record(item: int) -> int:
        produced.append(item)
        return item

    generator = prefetch(iter(range(10**9)), record, depth=2)
    assert next(generator) == 0
    generator.close()  # joins the thread: it must not run on through the endless input
    count = len(produced)
    assert count <= 4 and len(produced) == count


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy):
    return make_artifact(tmp_path_factory.mktemp("gpu") / "model", taxonomy, size=64)


@pytest.fixture(scope="module")
def photos() -> list[PhotoBytes]:
    items = []
    for i in range(7):
        rgb = room_scene(i, height=120 + 8 * i, width=160)
        data = _jpeg(rgb, orientation=6 if i == 3 else 1)
        items.append(PhotoBytes(i, f"{i:064x}", data))  # photo 3 is stored rotated (EXIF 6)
    png = io.BytesIO()
    Image.fromarray(room_scene(9, height=100, width=150)).save(png, format="PNG")
    items.append(PhotoBytes(7, "7" * 64, png.getvalue()))
    items.append(PhotoBytes(8, "8" * 64, b"\xff\xd8\xff\xe0" + b"\x00" * 40))  # corrupt JPEG
    return items


def _assert_agree(got, expected):
    assert [s.key for s in got] == [s.key for s in expected]
    for a, b in zip(got, expected, strict=True):
        assert (a.score is None) == (b.score is None), (a, b)
        if a.score is None:
            assert a.error and b.error
            continue
        for head in ("room", "condition", "signs"):
            left, right = getattr(a.score, head), getattr(b.score, head)
            assert left.keys() == right.keys()
            assert max(abs(left[k] - right[k]) for k in left) <= SCORE_TOLERANCE, head
        assert a.score.model_version == b.score.model_version


def test_tensor_path_on_cpu_agrees_with_the_cpu_scorer(model, photos):
    cpu = CpuBytesScorer(Engine.load(model), max_pixels=MAX_PIXELS, decode_short_side=None)
    tensor = TensorBytesScorer(model, device="cpu", config=cpu.engine.config, max_pixels=MAX_PIXELS)
    batches = [photos[:4], photos[4:]]
    expected = [s for batch in score_batches(cpu, batches) for s in batch]
    got = [s for batch in score_batches(tensor, batches) for s in batch]
    _assert_agree(got, expected)
    assert expected[-1].score is None and "JPEG" in expected[-1].error


def test_tensor_path_refuses_incomplete_jpegs_as_the_cpu_path_does(model):
    # torchvision's libjpeg fills a scan cut short and closed with an end marker with grey and
    # only warns; such a photo must fail as it fails on the CPU path, not be scored.
    whole = _jpeg(room_scene(5, height=120, width=160))
    rotated = _jpeg(room_scene(6, height=96, width=128), orientation=6)
    grey = _jpeg(np.full((90, 120, 3), 128, dtype=np.uint8))  # whole, but ends in fill grey
    items = {
        "whole": whole,
        "cut-closed": whole[: len(whole) // 2] + b"\xff\xd9",
        "cut-rotated": rotated[:-900] + b"\xff\xd9",  # the fill is looked for as stored
        "cut-open": whole[: len(whole) // 2],
        "whole-no-end-marker": whole[:-2],  # decodes on the CPU path (its scan is complete)
        "grey": grey,
    }
    names = list(items)
    batch = [PhotoBytes(i, f"{i:064x}", items[name]) for i, name in enumerate(names)]
    cpu = CpuBytesScorer(Engine.load(model), max_pixels=MAX_PIXELS, decode_short_side=None)
    tensor = TensorBytesScorer(model, device="cpu", config=cpu.engine.config, max_pixels=MAX_PIXELS)
    expected, got = cpu.infer(cpu.prepare(batch)), tensor.infer(tensor.prepare(batch))
    _assert_agree(got, expected)
    errors = {names[s.key]: s.error for s in got if s.score is None}
    assert set(errors) == {"cut-closed", "cut-rotated", "cut-open"}
    assert all("JPEG data is incomplete" in error for error in errors.values()), errors


def test_gpu_is_never_selected_without_cuda(model):
    if GPU:
        pytest.skip("a GPU is usable here")
    assert open_scorer(model, max_pixels=MAX_PIXELS).name == "cpu"
    from shanyraq.errors import ShanyraqError

    with pytest.raises(ShanyraqError, match="--device cpu"):
        open_scorer(model, prefer="gpu", max_pixels=MAX_PIXELS)


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason=f"no usable GPU: {WHY_NOT}")
def test_gpu_path_agrees_with_the_cpu_path(model, photos, tmp_path):
    from vision.engine import get_engine_config

    config = get_engine_config()
    runtime = config.runtime.model_copy(update={"trt_cache_dir": tmp_path / "trt", "fp16": False})
    config = config.model_copy(update={"runtime": runtime})
    cpu = CpuBytesScorer(Engine.load(model), max_pixels=MAX_PIXELS, decode_short_side=None)
    gpu = open_scorer(model, prefer="gpu", config=config, max_pixels=MAX_PIXELS)
    assert gpu.name == "gpu"
    batches = [photos[:5], photos[5:]]
    expected = [s for batch in score_batches(cpu, batches) for s in batch]
    got = [s for batch in score_batches(gpu, batches) for s in batch]
    _assert_agree(got, expected)


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason=f"no usable GPU: {WHY_NOT}")
def test_gpu_resize_matches_cpu_resize():
    spec = _spec("shorter_side_crop", "bilinear")
    rgb = room_scene(0, height=1500, width=2000)
    on_cpu = resize_tensor(_chw(rgb), spec)
    on_gpu = resize_tensor(_chw(rgb).cuda(), spec).cpu()
    assert (on_cpu.int() - on_gpu.int()).abs().max() <= PIXEL_TOLERANCE


@pytest.mark.parametrize("cached", [True, False])
def test_the_gpu_paths_tensorrt_engine_serves_every_batch_size(
    model, tmp_path, monkeypatch, cached
):
    """Review 22: without trt_cache_dir (shipped: null) the GPU path gave TensorRT no batch
    profiles, so it built its engine for the first batch size and rebuilt it (minutes) for each
    larger one; it now gets batches 1 to 256 either way, as vision.session's sessions do. The
    GPU is simulated (the probe passes); the options are recorded, no session is opened."""
    from vision import artifact as artifact_module
    from vision import providers
    from vision.artifact import read_artifact
    from vision.engine import get_engine_config
    from vision.gpu import _open_session
    from vision.providers import ORT_NAMES

    monkeypatch.setattr(providers, "probe", lambda: {"cpu": "", "cuda": "", "tensorrt": ""})
    asked: list[dict] = []
    monkeypatch.setattr(
        artifact_module, "open_onnx",
        lambda path, *, sess_options, providers, provider_options: asked.append(
            dict(zip(providers, provider_options, strict=True))
        ),
    )  # fmt: skip
    config = get_engine_config()
    runtime = config.runtime.model_copy(
        update={"trt_cache_dir": tmp_path / "trt" if cached else None}
    )
    config = config.model_copy(update={"runtime": runtime})
    _open_session(model, read_artifact(model), device="cuda", config=config)
    (options,) = (a[ORT_NAMES["tensorrt"]] for a in asked)
    assert options["trt_profile_min_shapes"].startswith("pixels:1x3x")
    assert options["trt_profile_max_shapes"].startswith("pixels:256x3x")
    assert ("trt_engine_cache_path" in options) == cached
