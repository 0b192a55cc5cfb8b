"""Dataset manifests: one CSV row per photo (path, sha256, family, split, labels, source).

The contract of DESIGN.md. `signs` is ';'-separated; an empty cell means "not labelled"
and the word `none` means "labelled, no sign visible". Paths are relative to the
manifest's folder. Extra columns (e.g. a synthetic style id) are kept as they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shanyraq.atomic import atomic_file
from shanyraq.errors import ManifestError, read_text

REQUIRED_COLUMNS = ("path", "sha256", "family_id", "split", "room", "condition", "signs", "source")
SPLITS = ("train", "val", "test")
NO_SIGNS = "none"


@dataclass(frozen=True)
class ManifestRow:
    """One photo. `None` labels mean "not labelled"; an empty frozenset means "no signs"."""

    path: str
    sha256: str
    family_id: str
    split: str
    room: str | None
    condition: int | None
    signs: frozenset[str] | None
    source: str
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def resolve(self, root: Path) -> Path:
        return root / self.path

    def with_split(self, split: str) -> ManifestRow:
        return replace(self, split=split)


@dataclass(frozen=True)
class Manifest:
    rows: list[ManifestRow]
    root: Path  # folder that row paths are relative to

    def __iter__(self) -> Iterator[ManifestRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def by_split(self, split: str) -> list[ManifestRow]:
        return [r for r in self.rows if r.split == split]


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def encode_signs(signs: frozenset[str] | None) -> str:
    if signs is None:
        return ""
    return ";".join(sorted(signs)) if signs else NO_SIGNS


def decode_signs(cell: str) -> frozenset[str] | None:
    cell = cell.strip()
    if not cell:
        return None
    if cell == NO_SIGNS:
        return frozenset()
    return frozenset(part.strip() for part in cell.split(";") if part.strip())


class RowFormatError(ValueError):
    """A cell that cannot be parsed at all (reported by the checker, not raised to users)."""


def _check_cell_count(record: Mapping[Any, object]) -> None:
    """csv.DictReader fills a short row with None and keeps a long row's surplus under None."""
    header = sum(1 for key in record if key is not None)
    surplus = record.get(None)
    if isinstance(surplus, list):
        cells = header + len(surplus)
    else:
        cells = sum(1 for key, value in record.items() if key is not None and value is not None)
    if cells != header:
        raise RowFormatError(
            f"the row has {cells} cell(s) but the header has {header}; "
            "every row needs one cell per column (an empty cell is fine, a missing one is not)"
        )


def _parse_row(record: dict[str, str]) -> ManifestRow:
    _check_cell_count(record)
    condition_cell = (record.get("condition") or "").strip()
    try:
        condition = int(condition_cell) if condition_cell else None
    except ValueError:
        raise RowFormatError(f"condition {condition_cell!r} is not a whole number") from None
    extra = {k: v for k, v in record.items() if k not in REQUIRED_COLUMNS and k is not None}
    return ManifestRow(
        path=record["path"].strip(),
        sha256=record["sha256"].strip().lower(),
        family_id=record["family_id"].strip(),
        split=record["split"].strip(),
        room=(record["room"] or "").strip() or None,
        condition=condition,
        signs=decode_signs(record["signs"] or ""),
        source=(record["source"] or "").strip(),
        extra=extra,
    )


def read_records(path: Path) -> tuple[list[dict[str, str]], Path]:
    """Raw CSV records; an unreadable or non-UTF-8 file, or missing columns, raise ManifestError.

    A UTF-8 byte-order mark (as spreadsheets write) is accepted.
    """
    numbered, root = read_numbered_records(path)
    return [record for _, record in numbered], root


def read_numbered_records(path: Path) -> tuple[list[tuple[int, dict[str, str]]], Path]:
    """A manifest's raw CSV records (`read_records`), each with the CSV line it starts on
    (blank lines, which csv skips, and cells holding line breaks count, as an editor shows
    them), and the folder row paths are relative to: all from one read of the file, so the
    lines are those of the records even when the file is being rewritten. A file that cannot
    be read, lacks columns or that csv cannot read (a quote never closed, swallowing the rest
    into one huge cell) raises ManifestError, the last naming its line."""
    text = read_text(path, ManifestError, "; a manifest is a UTF-8 CSV file")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    numbered: list[tuple[int, dict[str, str]]] = []
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if header is None:
                header = _checked_header(path, cells)
            elif cells:
                numbered.append((start, _as_record(header, cells)))
    except csv.Error as exc:
        raise not_csv(path, end + 1, exc) from None
    if header is None:
        _checked_header(path, [])
    return numbered, path.resolve().parent


def _checked_header(path: Path, header: list[str]) -> list[str]:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"a manifest needs {', '.join(REQUIRED_COLUMNS)}"
        )
    return header


def _as_record(header: list[str], cells: list[str]) -> dict[str, str]:
    """A row as csv.DictReader gives it, which `_parse_row` expects: cells past the header's
    under the key None, and None for the columns past the row's cells."""
    record: dict[Any, Any] = dict(zip(header, cells, strict=False))
    if len(cells) > len(header):
        record[None] = cells[len(header) :]
    for key in header[len(cells) :]:
        record[key] = None
    return record


def not_csv(path: Path, line: int, exc: csv.Error) -> ManifestError:
    """The refusal of a manifest csv cannot read from `line` on (a quote never closed)."""
    return ManifestError(
        f"{path}, line {line}: not readable as CSV ({exc}); check that each cell starting "
        "with a double quote has a closing one"
    )


def read_manifest(path: Path) -> Manifest:
    """Parse a manifest; a malformed cell raises ManifestError naming the line the row starts
    on, as an editor (and `shanyraq data check`) numbers it."""
    numbered, root = read_numbered_records(path)
    rows = []
    for line, record in numbered:
        try:
            rows.append(_parse_row(record))
        except RowFormatError as exc:
            raise ManifestError(f"{path}, line {line}: {exc}") from None
    return Manifest(rows=rows, root=root)


def rebased(rows: Sequence[ManifestRow], root: Path, out: Path) -> list[ManifestRow]:
    """`rows`, whose paths are relative to `root` (their manifest's folder), with paths
    relative to the folder of the manifest `out` instead: a manifest's paths are read relative
    to its own folder, so rows written elsewhere as they are would name photos that are not
    there. Absolute paths are kept; paths are not resolved, so a photo that is a link (a DVC
    cache, a store of hashed files) keeps the name the manifest gave it."""
    folder = out.resolve().parent
    if folder == root.resolve():
        return list(rows)
    return [
        r
        if Path(r.path).is_absolute()
        else replace(r, path=Path(os.path.relpath(root / r.path, folder)).as_posix())
        for r in rows
    ]


def write_manifest(path: Path, rows: Iterable[ManifestRow], *, replace: bool = True) -> Path:
    """Write rows (with their extra columns) atomically: a reader never sees half a file, and
    a failed write leaves the old file (or none) and no temporary file behind. With
    `replace=False` a file at `path` is never replaced, also one made while this was written
    (FileExistsError; `shanyraq.atomic.atomic_file`)."""
    rows = list(rows)
    extra_columns = sorted({k for r in rows for k in r.extra})
    with (
        atomic_file(path, replace=replace) as tmp,
        tmp.open("w", newline="", encoding="utf-8") as handle,
    ):
        writer = csv.writer(handle)
        writer.writerow([*REQUIRED_COLUMNS, *extra_columns])
        for r in rows:
            writer.writerow(
                [
                    r.path,
                    r.sha256,
                    r.family_id,
                    r.split,
                    r.room or "",
                    "" if r.condition is None else r.condition,
                    encode_signs(r.signs),
                    r.source,
                    *(r.extra.get(k, "") for k in extra_columns),
                ]
            )
    return path
