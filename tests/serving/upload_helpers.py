"""Helpers of the upload tests: files that are no photo to file (with the status and code each is
refused with), and the model's batch worker made to die, so photo scoring stops."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

from tests.serving.helpers import Service, jpeg


def stop_scoring(service: Service, monkeypatch: Any) -> None:
    """The model's batch worker dies (a native binding's SystemExit): scoring has stopped,
    as a new photo's 503 says, until the service is restarted."""

    def died(*args: object, **kwargs: object) -> object:
        raise SystemExit(3)

    pipeline = service.services.pipeline
    monkeypatch.setattr(pipeline.engine, "score_inputs", died)
    refused = service.upload("F1", jpeg(99))
    assert refused.status_code == 503, refused.text
    assert "photo scoring has stopped" in refused.json()["message"]
    assert pipeline.scoring_stopped


def png_bomb() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 2501 * 10, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    return buffer.getvalue()


BAD_FILES = {
    "empty": (b"", 422, "image_empty"),
    "text": (b"hello, this is not a photo", 415, "image_unsupported_format"),
    "gif": (gif_bytes(), 415, "image_unsupported_format"),
    "pdf": (b"%PDF-1.4\n%...", 415, "image_unsupported_format"),
    "truncated_jpeg": (jpeg(5)[:2000], 422, "image_corrupt"),
    "garbage_after_magic": (b"\xff\xd8\xff" + b"\x00" * 300, 422, "image_corrupt"),
    "pixel_bomb": (png_bomb(), 413, "image_too_large"),
}
