"""A contact sheet: one PNG grid of photos from a manifest, each captioned with its labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from shanyraq import shell_words
from shanyraq.atomic import atomic_file
from shanyraq.errors import ImageError, InputFileError, ManifestError
from shanyraq.manifest import Manifest, ManifestRow, read_manifest
from shanyraq.manifest_check import record_lines
from shanyraq.outputs import check_new_output_file
from vision.io import decode_file
from vision.io_checks import unreadable_reason

_CAPTION_LINES = 3
_LINE_PX = 13
_CAPTION_PX = 8 + _LINE_PX * _CAPTION_LINES
_FONT_SCALE = 0.36
_MAX_PIXELS = 50_000_000
_SHORT = {  # sign names shortened so two fit under a thumbnail
    "damp_mould": "damp",
    "structural_damage": "damage",
    "unfinished_surfaces": "bare",
    "broken_window": "window",
    "overcrowding": "crowd",
    "solid_fuel_stove": "stove",
    "premium_appliances": "appl+",
    "premium_finishes": "finish+",
}


def _caption(row: ManifestRow, width_px: int) -> list[str]:
    """Room and grade, then the signs packed into the lines left under the thumbnail. Signs
    that do not fit are counted on the last line ("+2"), and a line still too wide is cut
    ("..") rather than run on under the next photo. "?" is a room not labelled, "signs?"
    signs not labelled, and "-" labelled with no sign."""
    grade = "" if row.condition is None else f" c{row.condition}"
    if row.signs is None:
        words = ["signs?"]
    else:
        words = [_SHORT.get(s, s) for s in sorted(row.signs)] or ["-"]
    packed: list[list[str]] = [[]]
    for word in words:
        if packed[-1] and _text_width(",".join([*packed[-1], word])) > width_px:
            packed.append([])
        packed[-1].append(word)
    shown = packed[: _CAPTION_LINES - 1]
    hidden = sum(len(line) for line in packed[_CAPTION_LINES - 1 :])
    if hidden:
        last = shown[-1]
        while last and _text_width(",".join([*last, f"+{hidden}"])) > width_px:
            last.pop()
            hidden += 1
        last.append(f"+{hidden}")
    # A room name too wide is cut, not the grade after it.
    room = _fit(row.room or "?", width_px - _text_width(grade)) if grade else row.room or "?"
    lines = [f"{room}{grade}", *(",".join(line) for line in shown)]
    return [_fit(line, width_px) for line in lines]


def _fit(text: str, width_px: int) -> str:
    """`text`, cut and marked ".." when it is wider than `width_px`."""
    if _text_width(text) <= width_px:
        return text
    while len(text) > 1 and _text_width(f"{text}..") > width_px:
        text = text[:-1]
    return f"{text}.."


def _text_width(text: str) -> int:
    (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, _FONT_SCALE, 1)
    return int(width)


def _pick(rows: list[ManifestRow], count: int, seed: int) -> list[ManifestRow]:
    """A spread of rooms: round-robin over rooms, in a seeded order."""
    rng = np.random.default_rng(seed)
    by_room: dict[str, list[ManifestRow]] = {}
    for i in rng.permutation(len(rows)):
        by_room.setdefault(rows[int(i)].room or "?", []).append(rows[int(i)])
    picked: list[ManifestRow] = []
    while len(picked) < count and any(by_room.values()):
        for room in sorted(by_room):
            if by_room[room] and len(picked) < count:
                picked.append(by_room[room].pop())
    return picked


def contact_sheet(
    manifest: Path,
    out: Path,
    *,
    columns: int = 6,
    rows: int = 4,
    thumb: int = 128,
    seed: int = 0,
    colours: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a PNG grid of up to columns x rows photos with room, grade and signs.

    `colours` > 0 stores a palette of that many colours: a much smaller file, for docs.
    `out` must be a .png name, and new unless `overwrite` (OutputExistsError); an empty
    manifest or a missing photo raises ManifestError, and a photo that cannot be decoded an
    ImageError naming it and its row, before anything is written. A failed write leaves no
    partial file.
    """
    if out.suffix.lower() != ".png":
        raise InputFileError(f"{out}: a contact sheet is a PNG image; give --out a .png name")
    check_new_output_file(out, overwrite=overwrite, inputs=[manifest])
    data = read_manifest(manifest)
    chosen = _pick(data.rows, columns * rows, seed)
    if not chosen:
        raise ManifestError(f"{manifest} has no photos; a contact sheet needs at least one")
    missing = [r.path for r in chosen if not r.resolve(data.root).is_file()]
    if missing:
        raise ManifestError(
            f"{manifest}: {len(missing)} photo(s) not found under {data.root}, e.g. "
            f"{missing[0]}; run {_data_check(manifest)} to list every problem"
        )
    n_rows = -(-len(chosen) // columns)
    cell_h = thumb + _CAPTION_PX
    sheet = np.full((n_rows * cell_h, columns * thumb, 3), 255, np.uint8)
    for k, row in enumerate(chosen):
        y, x = (k // columns) * cell_h, (k % columns) * thumb
        sheet[y : y + thumb, x : x + thumb] = _letterbox(
            _thumbnail_source(data, row, manifest), thumb
        )
        for line, text in enumerate(_caption(row, thumb - 6)):
            cv2.putText(
                sheet,
                text,
                (x + 3, y + thumb + 12 + _LINE_PX * line),
                cv2.FONT_HERSHEY_SIMPLEX,
                _FONT_SCALE,
                (20, 20, 20),
                1,
                cv2.LINE_AA,
            )
    # Without `overwrite` a file made at `out` meanwhile is kept (FileExistsError), not replaced.
    with atomic_file(out, replace=overwrite) as tmp:
        _save_png(sheet, tmp, colours=colours)
    return out


def _data_check(manifest: Path) -> str:
    """The command that checks every row of `manifest`, its path one word of the command as a
    shell reads it (a folder with a space, say)."""
    return f"`shanyraq data check {shell_words.word(manifest)}`"


def _letterbox(pixels: np.ndarray, side: int) -> np.ndarray:
    """`pixels` scaled to fit a `side` x `side` square and centred in it on the sheet's white:
    the aspect ratio is kept, so a wide room is not squashed into a square one."""
    height, width = pixels.shape[:2]
    scale = side / max(height, width)
    fit_h, fit_w = max(1, round(height * scale)), max(1, round(width * scale))
    square = np.full((side, side, 3), 255, np.uint8)
    top, left = (side - fit_h) // 2, (side - fit_w) // 2
    square[top : top + fit_h, left : left + fit_w] = cv2.resize(
        pixels, (fit_w, fit_h), interpolation=cv2.INTER_AREA
    )
    return square


def _thumbnail_source(data: Manifest, row: ManifestRow, manifest: Path) -> np.ndarray:
    """The pixels of `row`'s photo, or an ImageError naming the photo and its manifest line
    (the decoder's own advice, written for an inspector's upload, is left out)."""
    path = row.resolve(data.root)
    try:
        return decode_file(path, max_pixels=_MAX_PIXELS).pixels
    except ImageError as exc:
        reason, error = unreadable_reason(exc), exc
    except OSError as exc:
        reason = unreadable_reason(exc)
        error = ImageError(reason)
    index = next((i for i, other in enumerate(data.rows) if other is row), None)
    if index is None:
        where = str(manifest)
    else:  # as an editor shows it: blank lines and cells holding line breaks count
        where = f"{manifest}, line {record_lines(manifest, len(data.rows))[index]}"
    raise type(error)(
        f"{where}: photo {path} cannot be read ({reason}); replace the file "
        f"or remove its row ({_data_check(manifest)} checks every photo's hash)"
    ) from None


def _save_png(sheet: np.ndarray, out: Path, *, colours: int) -> None:
    from PIL import Image

    image = Image.fromarray(sheet)
    if colours:
        image = image.quantize(colors=min(colours, 256), method=Image.Quantize.MEDIANCUT)
    image.save(out, format="PNG", optimize=True)
