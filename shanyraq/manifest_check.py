"""Checks a manifest against its files and the taxonomy; every problem found is reported."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from shanyraq.errors import ManifestError
from shanyraq.manifest import (
    SPLITS,
    ManifestRow,
    RowFormatError,
    _parse_row,
    read_numbered_records,
    sha256_file,
)
from shanyraq.splits import same_family
from shanyraq.taxonomy import Taxonomy

_SHA256 = re.compile(r"[0-9a-f]{64}")  # as `_parse_row` leaves it: lower case


@dataclass(frozen=True)
class Problem:
    """One thing wrong. `kind` is stable (tests and scripts match on it)."""

    kind: str
    line: int | None  # CSV line (header is line 1); None for cross-row problems
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"[{self.kind}] {where}{self.message}"


def _label_problems(row: ManifestRow, taxonomy: Taxonomy) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if row.room is not None and row.room not in taxonomy.room_names:
        found.append(("unknown_label", f"room {row.room!r} is not in the taxonomy"))
    if row.condition is not None and row.condition not in taxonomy.condition_values:
        found.append(
            (
                "unknown_label",
                f"condition {row.condition} is outside 1..{len(taxonomy.condition_values)}",
            )
        )
    for sign in sorted((row.signs or frozenset()) - set(taxonomy.sign_names)):
        found.append(("unknown_label", f"sign {sign!r} is not in the taxonomy"))
    if row.room == taxonomy.not_dwelling and (row.condition is not None or row.signs):
        found.append(
            ("label_conflict", f"a {taxonomy.not_dwelling} photo carries no condition or signs")
        )
    return found


def _row_problems(
    row: ManifestRow, root: Path, taxonomy: Taxonomy, verify_hashes: bool
) -> list[tuple[str, str]]:
    found = _label_problems(row, taxonomy)
    if row.split not in SPLITS:
        found.append(("invalid_split", f"split {row.split!r} is not one of {', '.join(SPLITS)}"))
    if not row.family_id:
        found.append(("missing_family", "family_id is empty"))
    file_path = row.resolve(root)
    if not file_path.is_file():
        found.append(("missing_file", _no_file(row.path, file_path, root)))
    elif verify_hashes:
        try:
            differs = sha256_file(file_path) != row.sha256
        except OSError as exc:  # one unreadable photo is one problem, not the end of the check
            found.append(("unreadable_file", f"{row.path} cannot be read ({exc.strerror or exc})"))
        else:
            if differs:
                found.append(("hash_mismatch", f"{row.path}: sha256 differs from the manifest"))
    return found


def _no_file(written: str, file_path: Path, root: Path) -> str:
    """Why there is no photo file at a row's path, in words."""
    if not written:
        return "the path is empty; give the photo's path, relative to the manifest's folder"
    if file_path.is_dir():
        return f"{written} is a folder under {root}, not a photo file"
    if file_path.is_symlink() and not file_path.exists():
        return f"{written} is a symbolic link that leads to no file"
    if file_path.exists():
        return f"{written} is not a regular file (a FIFO, device or socket)"
    return f"{written} does not exist under {root}"


def mixed_splits(
    values: Iterable[tuple[str, str]], same: Callable[[str], str] = str
) -> list[dict[str, set[str]]]:
    """The values found in more than one split, from (value as written, split) pairs: each as
    its written forms with the splits of each, forms that `same` maps to one key being one
    value (shanyraq.splits keeps them in one split); ordered by their smallest form."""
    groups: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for written, split in values:
        groups[same(written)][written].add(split)
    mixed = (forms for forms in groups.values() if len(set().union(*forms.values())) > 1)
    return sorted(mixed, key=min)


def _split_leaks(
    rows: list[tuple[int, ManifestRow]],
    value: Callable[[ManifestRow], str],
    kind: str,
    what: str,
    *,
    same: Callable[[str], str] = str,
) -> list[Problem]:
    """Each value (a family, a photo's hash) found in more than one split (`mixed_splits`);
    the message names its forms as written."""
    found: list[Problem] = []
    for forms in mixed_splits(((value(r), r.split) for _, r in rows if r.split in SPLITS), same):
        splits = sorted(set().union(*forms.values()))
        message = f"{what} {min(forms)} appears in splits {', '.join(splits)}"
        if len(forms) > 1:
            where = ", ".join(f"{w} in {', '.join(sorted(forms[w]))}" for w in sorted(forms))
            message += (
                f" (written {where}: ids differing only in case or surrounding space are "
                f"one {what})"
            )
        found.append(Problem(kind, None, message))
    return found


def _duplicates(rows: list[tuple[int, ManifestRow]]) -> list[Problem]:
    """A photo listed twice in one split (same path or same sha256): it would be counted twice
    in training or in a measurement. Duplicates across splits are split leaks, reported apart."""
    first_line: dict[tuple[str, str, str], int] = {}
    found: list[Problem] = []
    for line, row in rows:
        sha256 = row.sha256 if _SHA256.fullmatch(row.sha256) else ""  # no photo's: reported
        for what, value in (("path", _normal(row.path)), ("sha256", sha256)):
            if not value:
                continue
            earlier = first_line.setdefault((row.split, what, value), line)
            if earlier != line:
                found.append(
                    Problem(
                        "duplicate_photo",
                        line,
                        f"same {what} as line {earlier} in split {row.split!r} ({value}); "
                        "list each photo once: remove one of the two rows",
                    )
                )
                break
    return found


def _normal(path: str) -> str:
    """A row's path as one spelling ("./a.jpg" and "a.jpg" are one photo); "" for none."""
    return os.path.normpath(path) if path else ""


def photo_leaks(rows: list[tuple[int, ManifestRow]]) -> list[Problem]:
    """One photo in more than one split: by its sha256, and by its path where the rows give
    that path different sha256s (the same sha256 is already one leak)."""
    hashed = [(line, row) for line, row in rows if _SHA256.fullmatch(row.sha256)]
    found = _split_leaks(hashed, lambda r: r.sha256, "photo_split_leak", "photo sha256")
    sha256s: dict[str, set[str]] = defaultdict(set)
    for _, row in rows:
        sha256s[_normal(row.path)].add(row.sha256)
    unpaired = [(line, r) for line, r in rows if r.path and len(sha256s[_normal(r.path)]) > 1]
    return found + _split_leaks(unpaired, lambda r: _normal(r.path), "photo_split_leak", "photo")


def record_lines(path: Path, count: int) -> list[int]:
    """The CSV line each of a manifest's `count` records starts on, for a message about rows
    read before (`read_numbered_records`); the row numbers (line 2 on) where the file cannot
    be read again or no longer holds `count` records."""
    try:
        numbered, _ = read_numbered_records(path)
    except ManifestError:
        numbered = []
    if len(numbered) != count:
        return list(range(2, count + 2))
    return [line for line, _ in numbered]


def check_manifest(
    path: Path, taxonomy: Taxonomy, *, verify_hashes: bool = True, progress: bool = False
) -> list[Problem]:
    """All problems of the manifest at `path`; an empty list means it is clean.

    A manifest that cannot be read at all (missing file or columns, not CSV), or that has no
    rows (there is nothing in it to call clean), raises ManifestError. `progress`: a progress
    bar on stderr, row by row (hashing thousands of photos takes minutes).
    """
    from tqdm import tqdm

    numbered, root = read_numbered_records(path)
    if not numbered:
        raise ManifestError(
            f"{path} has no rows (a header only): there are no photos in it to check; give "
            "the manifest of the dataset"
        )
    problems: list[Problem] = []
    parsed: list[tuple[int, ManifestRow]] = []
    bar = tqdm(
        numbered,
        total=len(numbered),
        desc="hashing photos" if verify_hashes else "checking rows",
        unit="row",
        disable=not progress,
        leave=False,
    )
    with bar:
        for line, record in bar:
            try:
                row = _parse_row(record)
            except RowFormatError as exc:
                problems.append(Problem("malformed_row", line, str(exc)))
                continue
            parsed.append((line, row))
            problems += [
                Problem(kind, line, message)
                for kind, message in _checks(row, root, taxonomy, verify_hashes)
            ]
    problems += _duplicates(parsed)
    # Rows without a family are reported as missing_family, not as one family in two splits.
    with_family = [(line, row) for line, row in parsed if row.family_id]
    problems += _split_leaks(
        with_family, lambda r: r.family_id, "family_split_leak", "family", same=same_family
    )
    problems += photo_leaks(parsed)
    return problems


def _checks(
    row: ManifestRow, root: Path, taxonomy: Taxonomy, verify_hashes: bool
) -> list[tuple[str, str]]:
    """`_row_problems`, and what only `shanyraq data check` reports: a sha256 that is no
    sha256 (the file is then not hashed: it cannot match) and an absolute path."""
    found: list[tuple[str, str]] = []
    if os.path.isabs(row.path):  # the loaders take it as it is, ignoring the manifest's folder
        found.append(
            (
                "absolute_path",
                f"{row.path} is an absolute path; write it relative to the manifest's folder "
                f"({root}), so that the dataset still reads when it is moved or copied",
            )
        )
    sha256_valid = bool(_SHA256.fullmatch(row.sha256))
    if not sha256_valid:
        found.append(
            (
                "invalid_sha256",
                f"sha256 {row.sha256!r} is not 64 hexadecimal digits; write the file's sha256 "
                "(as `sha256sum` prints it)",
            )
        )
    verify = verify_hashes and sha256_valid
    return [*found, *_row_problems(row, root, taxonomy, verify)]
