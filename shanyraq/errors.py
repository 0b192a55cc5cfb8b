"""Domain exceptions with stable codes; HTTP and CLI layers map them in one place each."""

from __future__ import annotations


class ShanyraqError(Exception):
    """Base of every error Shanyraq raises on purpose.

    `code` is stable (clients and tests match on it); `http_status` is the status the
    service answers with; the message tells the user what to do.
    """

    code = "error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ShanyraqError):
    """A configuration file is missing, unreadable or invalid."""

    code = "config_invalid"
    http_status = 500


class ManifestError(ShanyraqError):
    """A dataset manifest cannot be read at all (bad columns, unreadable file)."""

    code = "manifest_invalid"


class ImageError(ShanyraqError):
    """Base of every refusal of an image's bytes."""

    code = "image_invalid"
    http_status = 422


class EmptyImageError(ImageError):
    code = "image_empty"


class UnsupportedImageFormatError(ImageError):
    code = "image_unsupported_format"
    http_status = 415


class ImageTooLargeError(ImageError):
    code = "image_too_large"
    http_status = 413


class CorruptImageError(ImageError):
    code = "image_corrupt"


class ModelMismatchError(ShanyraqError):
    """A model artifact does not match this installation (taxonomy, format)."""

    code = "model_mismatch"
    http_status = 500
