"""Review 19 of the reuse index and the decode checks (serving.reuse_index, vision.io_checks).

The reuse index held up (see the review's report); what failed is a decode check: the scan
count of a JPEG was judged by vision.io alone, so vision.gpu, which opens the header through
`open_header` and decodes on the device (or with torchvision's libjpeg on the CPU), handed a
JPEG of thousands of scans to its decoder.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shanyraq.errors import CorruptImageError
from vision.io_checks import open_header

LIMIT = 50_000_000


def _jpeg_with_scans(extra: int) -> bytes:
    """A progressive 64 x 48 JPEG whose last scan is repeated `extra` times (libjpeg decodes
    every one of them)."""
    pixels = np.random.default_rng(19).integers(0, 256, (48, 64, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", progressive=True)
    data = buffer.getvalue()
    last, end = data.rfind(b"\xff\xda"), data.rfind(b"\xff\xd9")
    return data[:end] + data[last:end] * extra + data[end:]


def test_opening_a_scan_bombs_header_refuses_it():
    with pytest.raises(CorruptImageError, match="more than 256 scans"):
        open_header(_jpeg_with_scans(400), "jpeg", max_pixels=LIMIT)


def test_a_jpeg_of_many_but_plausible_scans_still_opens():
    image = open_header(_jpeg_with_scans(200), "jpeg", max_pixels=LIMIT)
    assert image.size == (64, 48)


def test_the_device_path_refuses_a_scan_bomb_before_decoding_it():
    """vision.gpu.jpeg_header is what TensorBytesScorer asks before torchvision decodes."""
    pytest.importorskip("torch")
    from vision.gpu import jpeg_header

    with pytest.raises(CorruptImageError, match="scans"):
        jpeg_header(_jpeg_with_scans(400), max_pixels=LIMIT)
    assert jpeg_header(_jpeg_with_scans(200), max_pixels=LIMIT).mode == "RGB"
