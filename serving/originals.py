"""Stored originals read for showing or explaining, checked against their content address."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from serving.errors import NotFoundError, PhotoUnreadableError
from serving.stored_decode import unreadable_original

if TYPE_CHECKING:  # the store reads its originals through here (PhotoStore.served_jpeg)
    from serving.storage import PhotoStore


def checked_original(store: PhotoStore, sha256: str) -> bytes:
    """The stored original named `sha256`, its bytes checked against that content hash; else
    PhotoUnreadableError (photo_store_damaged), as for one missing or unreadable: bytes
    damaged or replaced on disk are never shown or explained as the photo that was uploaded.
    Hashing a photo (a few MB) costs far less than decoding it."""
    try:
        original = store.read(sha256)
    except (OSError, NotFoundError) as exc:
        raise unreadable_original(sha256, exc) from None
    if hashlib.sha256(original).hexdigest() != sha256:
        raise PhotoUnreadableError(
            "the photo file in the store no longer matches its content hash (damaged or "
            f"replaced on disk): originals/{sha256[:2]}/{sha256}; an administrator should "
            "restore that file from a backup of the photo store"
        )
    return original
