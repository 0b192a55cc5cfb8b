"""CMYK JPEGs on the tensor (GPU) path: cut short, refused as vision.io refuses them; whole, the
CPU path's very pixels.

libjpeg fills the blocks after a cut scan with all-zero coefficients, which come out grey for a
YCbCr or grey JPEG (the tensor path looks for that grey) but not for a CMYK one: a CMYK photo cut
short and closed with an end marker used to be scored there, half of it invented.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shanyraq.errors import CorruptImageError
from tests.vision.engine_fixtures import make_artifact, room_scene
from tests.vision.icc_helpers import ADOBE_COLORANTS, rgb_profile
from vision.bulk import CpuBytesScorer, PhotoBytes
from vision.engine import Engine
from vision.gpu import TensorBytesScorer, jpeg_header
from vision.io import decode_image
from vision.preprocess import to_input

MAX_PIXELS = 50_000_000
SIZE = 64


def _jpeg(rgb: np.ndarray, mode: str, *, orientation: int = 1) -> bytes:
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert(mode).save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def _cuts(data: bytes) -> dict[str, bytes]:
    """`data` cut short a tenth, half and nine tenths of the way: closed with EOI, or not."""
    cuts = {}
    for fraction in (0.1, 0.5, 0.9):
        kept = data[: int(len(data) * fraction)]
        cuts[f"cut-closed-{fraction}"], cuts[f"cut-open-{fraction}"] = kept + b"\xff\xd9", kept
    return cuts


@pytest.fixture(scope="module")
def scorers(tmp_path_factory, taxonomy) -> tuple[CpuBytesScorer, TensorBytesScorer]:
    model = make_artifact(tmp_path_factory.mktemp("cmyk") / "model", taxonomy, size=SIZE)
    cpu = CpuBytesScorer(Engine.load(model), max_pixels=MAX_PIXELS, decode_short_side=None)
    tensor = TensorBytesScorer(model, device="cpu", config=cpu.engine.config, max_pixels=MAX_PIXELS)
    return cpu, tensor


def _photos(items: dict[str, bytes]) -> list[PhotoBytes]:
    return [PhotoBytes(i, f"{i:064x}", data) for i, data in enumerate(items.values())]


@pytest.mark.parametrize("mode", ["CMYK", "RGB", "L"])
@pytest.mark.parametrize("scene", ["noise", "room"])
def test_a_jpeg_cut_short_is_refused_on_both_paths_with_the_same_error(scorers, mode, scene):
    rgb = (
        np.random.default_rng(0).integers(0, 256, (200, 240, 3), dtype=np.uint8)
        if scene == "noise"
        else room_scene(3, height=200, width=240)
    )
    items = _cuts(_jpeg(rgb, mode))
    cpu, tensor = scorers
    prepared = tensor.prepare(_photos(items))
    _, decoded = cpu.prepare(_photos(items))
    assert prepared.ok == [] and sorted(prepared.errors) == list(range(len(items)))
    for i, (name, data) in enumerate(items.items()):
        with pytest.raises(CorruptImageError) as on_pil_path:
            decode_image(data, max_pixels=MAX_PIXELS)
        expected = on_pil_path.value
        assert "JPEG data is incomplete" in expected.message, name
        for got in (prepared.errors[i], decoded[i]):
            assert isinstance(got, CorruptImageError), (name, got)
            assert (got.code, got.message) == (expected.code, expected.message), name
    scored = tensor.infer(prepared)
    assert all(s.score is None and "JPEG data is incomplete" in s.error for s in scored)


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_whole_cmyk_jpeg_gives_the_cpu_paths_very_input(scorers, orientation):
    # 128 x 128 to 64 x 64 shrinks by a whole factor: the tensor resize gives cv2's pixels.
    data = _jpeg(room_scene(4, height=128, width=128), "CMYK", orientation=orientation)
    assert jpeg_header(data, max_pixels=MAX_PIXELS).mode == "CMYK"
    _, tensor = scorers
    prepared = _as_on_the_cpu_path(tensor, data)
    assert tensor.infer(prepared)[0].score is not None


def _as_on_the_cpu_path(tensor: TensorBytesScorer, data: bytes):
    """The tensor path's input for `data`, checked to be the CPU path's very input."""
    prepared = tensor.prepare(_photos({"whole": data}))
    assert prepared.ok == [0] and not prepared.errors
    pixels = decode_image(data, max_pixels=MAX_PIXELS).pixels
    expected = to_input(pixels, tensor.artifact.preprocessing)
    np.testing.assert_array_equal(prepared.pixels[0].float().numpy(), expected)
    return prepared


def test_a_jpeg_whose_colours_vision_io_converts_gives_the_cpu_paths_very_input(scorers):
    # nvJPEG knows no ICC profiles: an Adobe RGB photo goes to vision.io, which converts it.
    buffer = io.BytesIO()
    profile = rgb_profile(ADOBE_COLORANTS, 2.2, "Adobe RGB (test)")
    Image.fromarray(room_scene(5, height=128, width=128)).save(
        buffer, format="JPEG", quality=90, icc_profile=profile
    )
    data = buffer.getvalue()
    assert jpeg_header(data, max_pixels=MAX_PIXELS).converts_colour
    _as_on_the_cpu_path(scorers[1], data)
