"""Checks a manifest against its files and the taxonomy; every problem found is reported."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from shanyraq.manifest import (
    SPLITS,
    ManifestRow,
    RowFormatError,
    _parse_row,
    read_records,
    sha256_file,
)
from shanyraq.splits import same_family
from shanyraq.taxonomy import Taxonomy


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
        found.append(("missing_file", f"{row.path} does not exist under {root}"))
    elif verify_hashes and sha256_file(file_path) != row.sha256:
        found.append(("hash_mismatch", f"{row.path}: sha256 differs from the manifest"))
    return found


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
        path = os.path.normpath(row.path) if row.path else ""
        for what, value in (("path", path), ("sha256", row.sha256)):
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


def check_manifest(path: Path, taxonomy: Taxonomy, *, verify_hashes: bool = True) -> list[Problem]:
    """All problems of the manifest at `path`; an empty list means it is clean.

    A manifest that cannot be read at all (missing file or columns) raises ManifestError.
    """
    records, root = read_records(path)
    problems: list[Problem] = []
    parsed: list[tuple[int, ManifestRow]] = []
    for line, record in enumerate(records, start=2):
        try:
            row = _parse_row(record)
        except RowFormatError as exc:
            problems.append(Problem("malformed_row", line, str(exc)))
            continue
        parsed.append((line, row))
        for kind, message in _row_problems(row, root, taxonomy, verify_hashes):
            problems.append(Problem(kind, line, message))
    problems += _duplicates(parsed)
    # Rows without a family are reported as missing_family, not as one family in two splits.
    with_family = [(line, row) for line, row in parsed if row.family_id]
    problems += _split_leaks(
        with_family, lambda r: r.family_id, "family_split_leak", "family", same=same_family
    )
    problems += _split_leaks(parsed, lambda r: r.sha256, "photo_split_leak", "photo sha256")
    return problems
