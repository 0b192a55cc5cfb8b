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


class ImageShapeError(ImageError):
    """An image far longer than it is wide: no photo of a room, and its resize would not fit."""

    code = "image_shape"


class ModelMismatchError(ShanyraqError):
    """A model artifact does not match this installation (taxonomy, format)."""

    code = "model_mismatch"
    http_status = 500


class InputFileError(ShanyraqError):
    """A file named on the command line is missing, unreadable or not the format asked for."""

    code = "input_file_invalid"


class OutputExistsError(ShanyraqError):
    """An output folder already holds files the command would replace without being asked to."""

    code = "output_exists"
    http_status = 409


class FileAccessError(ShanyraqError):
    """A file or folder could not be read or written (the CLI's last resort for OSError)."""

    code = "file_error"
    http_status = 500


class CommandUsageError(ShanyraqError):
    """The command line itself is wrong: an unknown option or command, a missing argument, a
    bad value. The CLI prints it as one line and exits 2, as click does."""

    code = "usage_error"
    exit_code = 2


class Interrupted(ShanyraqError):
    """Ctrl-C (SIGINT) stopped a command. The message says what was done and what is left,
    where the command knows."""

    code = "interrupted"
    exit_code = 130  # 128 + SIGINT, what a shell reports for a command Ctrl-C stopped


class OutputPathError(ShanyraqError):
    """An output path named on the command line cannot be written as asked (a file where a
    folder is needed, a read-only or missing parent)."""

    code = "output_path_invalid"


class DeviceUnavailableError(ShanyraqError):
    """The device asked for (`--device gpu`) cannot run here."""

    code = "device_unavailable"
    http_status = 500


def read_text(path: object, error: type[ShanyraqError], hint: str = "") -> str:
    """A UTF-8 file's text (a leading byte-order mark dropped), or `error` naming the file and
    why it cannot be read, with the line for bad encoding (+ `hint`)."""
    from pathlib import Path

    file = Path(str(path))
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise error(f"{file}: file not found{hint}") from None
    except IsADirectoryError:
        raise error(f"{file} is a folder, not a file{hint}") from None
    except OSError as exc:
        raise error(f"{file}: cannot read ({exc.strerror}){hint}") from None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (Excel's "CSV UTF-8") is not text
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{file} is not UTF-8 text (line {line}: {exc.reason}){hint}") from None


def read_json_file(path: object, what: str) -> object:
    """The JSON in `path`, or an InputFileError that names the file and what it should hold.

    A key given twice in one object is refused too: json would keep the last value and drop
    the other without a word (a family's income given as 20000, then as null)."""
    import json

    from shanyraq.json_values import KeyGivenTwiceError, pairs_once

    text = read_text(path, InputFileError, f"; it should hold {what}")
    try:
        return json.loads(text, object_pairs_hook=pairs_once)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
            f"it should hold {what}"
        ) from None
    except KeyGivenTwiceError as exc:
        raise InputFileError(
            f"{path}: {exc}; keep the one value meant (JSON would keep the last and drop the "
            "other without a word)"
        ) from None
