"""Stored originals decoded to be shown or explained, and the store's damage named for each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from serving.errors import ConflictError, NotFoundError, PhotoUnreadableError
from shanyraq.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageShapeError,
    ImageTooLargeError,
    UnsupportedImageFormatError,
)

if TYPE_CHECKING:
    from vision.io import DecodedImage

# What decoding a stored original raises when its bytes are no longer a photo (emptied, cut
# short, overwritten): the store's damage, since the upload decoded them. A photo over today's
# size limits (ImageTooLargeError, ImageShapeError) is a setting changed since, not damage.
UNDECODABLE = (EmptyImageError, CorruptImageError, UnsupportedImageFormatError)
# The longest side libjpeg encodes: the image routes send a stored photo as a JPEG copy.
SHOWN_MAX_SIDE_PX = 65_500


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
    under `stored_limit(max_pixels)`); `unreadable_original` when its bytes no longer decode,
    and an error addressed to the administrator, not the viewer, when it is over even that
    limit, or longer than a JPEG copy can be (SHOWN_MAX_SIDE_PX).

    The aspect limit of uploads is not applied (`max_aspect=None`): a strip filed before it is
    evidence on file, and its pixels are bounded by the pixel limit all the same; a caller that
    scales them to a model's input judges the shape itself (`check_explainable`)."""
    from vision.io import decode_image

    limit = stored_limit(max_pixels)
    try:
        decoded = decode_image(data, max_pixels=limit, target_size=target_size, max_aspect=None)
    except UNDECODABLE as exc:  # the upload decoded these bytes: the store damaged them
        raise unreadable_original(sha256, exc) from None
    except ImageTooLargeError:
        raise ImageTooLargeError(
            f"the stored photo originals/{sha256[:2]}/{sha256} is larger than the "
            f"{limit / 1e6:.0f} MP stored photos are shown at; an administrator can raise "
            "io.stored_max_pixels to show it"
        ) from None
    width, height = decoded.size
    if max(width, height) > SHOWN_MAX_SIDE_PX:  # filed before the aspect limit refused it
        raise ImageShapeError(
            f"the stored photo originals/{sha256[:2]}/{sha256} is {width}x{height}, longer "
            f"than the {SHOWN_MAX_SIDE_PX} pixels a JPEG copy can hold, so it cannot be shown "
            "here; an administrator can open that file from the photo store"
        )
    return decoded


class HeatmapShapeError(ConflictError):
    """A heat map asked for a photo longer than MAX_ASPECT times its width (a strip filed
    before uploads refused such shapes): the photo is shown, but scaling it to the model's input
    would need unbounded memory (`vision.io_checks.check_pixel_limit`)."""

    code = "heatmap_shape"


def check_explainable(decoded: DecodedImage) -> None:
    """HeatmapShapeError where the stored photo `decoded` is a shape the photo model does not
    take, as uploads do not (vision.io_checks.MAX_ASPECT)."""
    from vision.io_checks import MAX_ASPECT

    width, height = decoded.display_size
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise HeatmapShapeError(
            f"no heat map for this photo: it is {width}x{height}, more than {MAX_ASPECT} times "
            "as long as it is wide, a shape the photo model does not take; the photo itself "
            "can still be opened"
        )
