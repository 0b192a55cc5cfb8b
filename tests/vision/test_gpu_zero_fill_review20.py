"""Review 20: a JPEG cut and zero-filled to its size on the tensor (GPU) path.

The CPU path refuses a one-scan JPEG whose scan stops where a trailing run of zero bytes begins
(`vision.completeness.jpeg_scan_end`). nvJPEG decodes those zeros as noise, with no error, and
the last pixel is no fill grey: the GPU path scored such a photo. It now sends it to vision.io,
which refuses it with the CPU path's very error.

No GPU here: the device decode is replaced by what libjpeg (Pillow) makes of the raw bytes, the
zeros decoded as noise, as nvJPEG decodes them.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import vision.io
from shanyraq.errors import CorruptImageError
from tests.vision.engine_fixtures import make_artifact
from tests.vision.io_helpers import jpeg_bytes, noise_pixels
from vision.bulk import CpuBytesScorer, PhotoBytes
from vision.completeness import jpeg_scan_end
from vision.engine import Engine
from vision.gpu import TensorBytesScorer, ends_in_fill_grey, zero_filled

MAX_PIXELS = 50_000_000


def _as_nvjpeg(data: list[bytes]) -> list[torch.Tensor]:
    """Each JPEG as libjpeg decodes its bytes untouched: zeros after a cut come out as noise."""
    return [
        torch.from_numpy(np.array(Image.open(io.BytesIO(d)).convert("RGB"))).permute(2, 0, 1)
        for d in data
    ]


@pytest.fixture(scope="module")
def scorers(tmp_path_factory, taxonomy) -> tuple[CpuBytesScorer, TensorBytesScorer]:
    model = make_artifact(tmp_path_factory.mktemp("zero-fill") / "model", taxonomy, size=64)
    cpu = CpuBytesScorer(Engine.load(model), max_pixels=MAX_PIXELS, decode_short_side=None)
    tensor = TensorBytesScorer(model, device="cpu", config=cpu.engine.config, max_pixels=MAX_PIXELS)
    return cpu, tensor


@pytest.fixture
def via_vision_io(monkeypatch) -> list[bytes]:
    """The bytes of every photo the tensor path hands to vision.io's decode."""
    sent: list[bytes] = []
    decode = vision.io.decode_image

    def spy(data: bytes, **kwargs):
        sent.append(data)
        return decode(data, **kwargs)

    monkeypatch.setattr(vision.io, "decode_image", spy)
    return sent


@pytest.mark.parametrize("kept", [0.3, 0.5, 0.8])
def test_a_zero_filled_jpeg_goes_to_vision_io_and_is_refused_as_there(
    scorers, monkeypatch, via_vision_io, kept
):
    cpu, tensor = scorers
    whole = jpeg_bytes(noise_pixels(400, 300), optimize=True)
    cut = int(len(whole) * kept)
    filled = whole[:cut] + bytes(len(whole) - cut)
    # The device would score it: its decode has no error and no fill grey at the end.
    assert ends_in_fill_grey(_as_nvjpeg([filled])) == [False]
    monkeypatch.setattr(tensor, "_decode_jpegs", _as_nvjpeg)
    batch = [PhotoBytes(0, "0" * 64, whole), PhotoBytes(1, "1" * 64, filled)]
    prepared = tensor.prepare(batch)
    assert via_vision_io == [filled]  # the whole photo stays on the device
    assert prepared.ok == [0] and list(prepared.errors) == [1]
    _, cpu_errors = cpu.prepare(batch)
    got, expected = prepared.errors[1], cpu_errors[1]
    assert isinstance(got, CorruptImageError) and isinstance(expected, CorruptImageError)
    assert (got.code, got.message) == (expected.code, expected.message)
    assert "JPEG data is incomplete" in got.message
    scored = tensor.infer(prepared)
    assert scored[0].score is not None
    assert scored[1].score is None and "JPEG data is incomplete" in (scored[1].error or "")


def test_a_whole_scan_that_lost_its_end_marker_to_zeros_is_decoded_as_on_the_cpu_path(
    scorers, monkeypatch, via_vision_io
):
    _, tensor = scorers
    whole = jpeg_bytes(noise_pixels(200, 150), optimize=True)
    padded = whole[:-2] + bytes(20_000)
    monkeypatch.setattr(tensor, "_decode_jpegs", _as_nvjpeg)
    prepared = tensor.prepare([PhotoBytes(0, "0" * 64, padded)])
    assert via_vision_io == [padded] and prepared.ok == [0] and not prepared.errors
    assert tensor.infer(prepared)[0].score is not None


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (b"\xff\xd9", False),  # whole, closed by its end marker
        (b"\xff\xd9" + bytes(20_000), False),  # zeros after the end marker: whole
        (b"", False),  # end marker left off: the file's end ends the scan
        (bytes(100), False),  # a short run of zeros may be the scan's own bits
        (bytes(20_000), True),  # cut and zero-filled
    ],
)
def test_zero_filled_tells_a_zero_fill_from_the_scans_other_ends(tail, expected):
    whole = jpeg_bytes(noise_pixels(64, 48))
    assert whole.endswith(b"\xff\xd9")
    data = whole[: len(whole) // 2] + tail
    assert zero_filled(data, jpeg_scan_end(data)) is expected
