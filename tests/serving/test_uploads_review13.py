"""Upload path and photo store (review 13): scan bombs, one-line codec errors, store repairs."""

from __future__ import annotations

import errno
import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select

from serving import storage
from serving.db.models import Photo
from serving.storage import PhotoStore
from shanyraq.errors import CorruptImageError
from tests.serving.helpers import jpeg
from vision.io import decode_image

MAX_PIXELS = 50_000_000


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: nothing here depends on the database (the filing is tested elsewhere)."""
    return f"sqlite:///{tmp_path / 'service.db'}"


@pytest.fixture
def store(tmp_path) -> PhotoStore:
    photo_store = PhotoStore(tmp_path / "photos")
    photo_store.prepare()
    return photo_store


def _pixels(seed: int = 0, size: tuple[int, int] = (96, 128)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), np.uint8))


def _encoded(image: Image.Image, fmt: str, **save: object) -> bytes:
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def _jpeg_with_scans(extra: int) -> bytes:
    """A progressive JPEG whose last scan is repeated `extra` times (libjpeg decodes it all)."""
    data = _encoded(Image.new("RGB", (64, 64), (128, 128, 128)), "JPEG", progressive=True)
    last, end = data.rfind(b"\xff\xda"), data.rfind(b"\xff\xd9")
    return data[:end] + data[last:end] * extra + data[end:]


def _truncated_heic() -> bytes:
    data = _encoded(_pixels(), "HEIF")
    return data[: len(data) // 2]


def _rows(service) -> int:
    with service.services.sessions() as session:
        return session.execute(select(func.count()).select_from(Photo)).scalar_one()


def _stored(service) -> list:
    return [p for p in service.services.store.originals.rglob("*") if p.is_file()]


# --- a JPEG of thousands of scans: minutes of CPU per upload -------------------------------


def test_jpeg_of_many_scans_is_refused_before_decoding():
    bomb = _jpeg_with_scans(400)
    with pytest.raises(CorruptImageError, match="scans") as refused:
        decode_image(bomb, max_pixels=MAX_PIXELS)
    assert "\n" not in refused.value.message


@pytest.mark.parametrize(
    "save", [{}, {"progressive": True}, {"progressive": True, "optimize": True}]
)
def test_jpegs_as_encoders_write_them_still_decode(save):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    decoded = decode_image(jpeg(1, exif=exif, **save), max_pixels=MAX_PIXELS)
    assert decoded.size == (640, 480)
    assert decode_image(_jpeg_with_scans(20), max_pixels=MAX_PIXELS).size == (64, 64)


def test_upload_of_a_scan_bomb_is_one_line_422_and_nothing_is_stored(service):
    service.create_family("F1")
    response = service.upload("F1", _jpeg_with_scans(400))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "image_corrupt" and "\n" not in body["message"]
    assert _rows(service) == 0 and _stored(service) == []


# --- a codec's own words with a line break in the message -----------------------------------


def test_truncated_heic_is_refused_in_one_line():
    with pytest.raises(CorruptImageError) as refused:
        decode_image(_truncated_heic(), max_pixels=MAX_PIXELS)
    message = refused.value.message
    assert "\n" not in message and message.endswith("upload the photo again"), message


def test_upload_of_a_truncated_heic_answers_one_line(service):
    service.create_family("F1")
    response = service.upload("F1", _truncated_heic())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "image_corrupt"
    assert "\n" not in response.json()["message"]


# --- the store: a damaged copy of the same size, a browser copy that cannot be cached -------


def test_upload_of_the_same_bytes_repairs_a_damaged_copy(store):
    data = jpeg(2)
    stored = store.put(data)
    stored.path.write_bytes(bytes(len(data)))  # bit rot: same size, other bytes
    assert not store.verify(stored.sha256)
    again = store.put(data)
    assert again.created and store.verify(stored.sha256) and store.read(stored.sha256) == data


def test_reupload_through_the_api_leaves_a_row_with_its_file(service):
    service.create_family("F1")
    service.create_family("F2")
    data = jpeg(3)
    first = service.upload("F1", data).json()
    path = service.services.store.path_for(first["sha256"])
    path.write_bytes(bytes(len(data)))
    assert service.upload("F2", data).status_code == 201
    assert service.services.store.verify(first["sha256"])


def test_browser_copy_is_served_when_the_disk_refuses_its_cache(store, monkeypatch):
    stored = store.put(jpeg(4))

    def full(target, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "_durable_write", full)
    served = store.served_jpeg(stored.sha256, max_pixels=MAX_PIXELS)
    assert Image.open(io.BytesIO(served)).size == (640, 480)
    assert not store.path_for(stored.sha256, folder=store.served).exists()


def test_browser_copy_is_served_by_the_api_when_the_disk_is_full(service, monkeypatch):
    service.create_family("F1")
    photo = service.upload("F1", jpeg(5)).json()

    def full(target, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "_durable_write", full)
    image = service.client.get(
        f"/photos/{photo['photo_id']}/image", headers=service.headers("commission")
    )
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


# --- the browser copy carries nothing of the original but pixels ----------------------------


def _metadata_rich() -> dict[str, bytes]:
    image = _pixels(7)
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "PhoneMaker", 6
    exif.get_ifd(0x8825).update({1: "N", 2: (43.0, 15.0, 0.0), 3: "E", 4: (76.0, 57.0, 0.0)})
    exif_bytes = exif.tobytes()  # as bytes, pillow-heif writes the rotation as HEIF's irot
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "43.25N 76.95E, flat 12")
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPSLatitude 43.25</x:xmpmeta>'
    icc, note = b"\x00" * 128 + b"private ICC description", b"flat 12"
    return {
        "jpeg": _encoded(image, "JPEG", exif=exif_bytes, xmp=xmp, icc_profile=icc, comment=note),
        "png": _encoded(image, "PNG", exif=exif_bytes, pnginfo=text),
        "webp": _encoded(image, "WEBP", exif=exif_bytes, xmp=xmp, icc_profile=icc),
        "heic": _encoded(image, "HEIF", exif=exif_bytes, xmp=xmp),
    }


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "heic"])
def test_browser_copy_keeps_no_metadata_of_any_kind(store, fmt):
    original = _metadata_rich()[fmt]
    stored = store.put(original)
    served = store.served_jpeg(stored.sha256, max_pixels=MAX_PIXELS)
    image = Image.open(io.BytesIO(served))
    assert image.size == (96, 128)  # upright: orientation 6 applied to the 128x96 pixels
    assert not image.getexif() and set(image.info) <= {
        "jfif",
        "jfif_version",
        "jfif_unit",
        "jfif_density",
        "dpi",
    }
    for secret in (b"PhoneMaker", b"43.25", b"flat 12", b"ICC", b"xmpmeta", b"Exif"):
        assert secret not in served
