"""Stored originals decoded to be shown or explained, and the store's damage named for each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from serving.errors import NotFoundError, PhotoUnreadableError
from shanyraq.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)

if TYPE_CHECKING:
    from vision.io import DecodedImage

# What decoding a stored original raises when its bytes are no longer a photo (emptied, cut
# short, overwritten): the store's damage, since the upload decoded them. A photo over today's
# size limits (ImageTooLargeError, ImageShapeError) is a setting changed since, not damage.
UNDECODABLE = (EmptyImageError, CorruptImageError, UnsupportedImageFormatError)


def unreadable_original(
    sha256: str, exc: OSError | NotFoundError | ImageError
) -> PhotoUnreadableError:
    """The error for an original a photo row names that is missing (NotFoundError), there but
    unreadable (`PhotoStore.read` raised `exc`) or read but no longer a photo (one of
    UNDECODABLE): damage to the store each way, not a page that does not exist nor a bad
    upload. Names its file inside the store (`originals/ab/abcd...`) and why."""
    if isinstance(exc, NotFoundError):
        why = "missing"
    elif isinstance(exc, ImageError):
        why = "damaged: its bytes no longer decode as a photo"
    else:
        why = exc.strerror or type(exc).__name__
    return PhotoUnreadableError(
        f"the photo file cannot be read from the store ({why}): originals/{sha256[:2]}/{sha256}; "
        "an administrator should restore that file from a backup of the photo store (or make "
        "it readable again)"
    )


def stored_limit(max_pixels: int) -> int:
    """The pixel limit a stored original is read under, where today's upload limit is
    `max_pixels`: the larger of it and io.stored_max_pixels (configs/shanyraq.yaml). A stored
    original passed io.max_pixels when it was filed, and the limit may have been lowered since:
    a lowered limit refuses new uploads, never the evidence already filed."""
    from shanyraq.config import get_settings

    return max(max_pixels, get_settings().io.stored_max_pixels)


def decode_stored(
    sha256: str, data: bytes, *, max_pixels: int, target_size: int | None = None
) -> DecodedImage:
    """`data`, the stored original of `sha256`, decoded to be shown (`vision.io.decode_image`
    under `stored_limit(max_pixels)`); `unreadable_original` when its bytes no
    longer decode, and an ImageTooLargeError addressed to the administrator, not the viewer,
    when it is over even that limit."""
    from vision.io import decode_image

    limit = stored_limit(max_pixels)
    try:
        return decode_image(data, max_pixels=limit, target_size=target_size)
    except UNDECODABLE as exc:  # the upload decoded these bytes: the store damaged them
        raise unreadable_original(sha256, exc) from None
    except ImageTooLargeError:
        raise ImageTooLargeError(
            f"the stored photo originals/{sha256[:2]}/{sha256} is larger than the "
            f"{limit / 1e6:.0f} MP stored photos are shown at; an administrator can raise "
            "io.stored_max_pixels to show it"
        ) from None
