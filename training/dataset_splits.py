"""The photos a recipe trains, validates and tests on, read from its manifest.

When the manifest does not exist and the recipe names synthetic data, it is generated first
(training.synth). Photos of held-out styles are kept out of train and val and measured apart.
Every row is checked before anything is trained or measured (`check_rows`): a label outside the
taxonomy, an unknown split or a missing photo is refused up front, not met mid-training.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from shanyraq.errors import ManifestError
from shanyraq.manifest import SPLITS, Manifest, ManifestRow, read_manifest, sha256_file
from shanyraq.manifest_check import Problem, _row_problems, mixed_splits, photo_leaks
from shanyraq.shell_words import word
from shanyraq.splits import same_family
from shanyraq.taxonomy import get_taxonomy
from training.recipe import DataSection

logger = logging.getLogger(__name__)

STYLE_COLUMN = "style"
MIXED_SHOWN = 3  # families named in the error
PROBLEMS_SHOWN = 5  # row problems named in the error
# `shanyraq data check` problems that training and evaluation accept: a row without a family is
# not split-checked (check_families_in_one_split) but is still a labelled photo.
ACCEPTED_PROBLEMS = frozenset({"missing_family"})


@dataclass(frozen=True)
class DataSplits:
    manifest: Path
    manifest_sha256: str
    root: Path
    train: list[ManifestRow]
    val: list[ManifestRow]
    test: list[ManifestRow]
    held_out_style: list[ManifestRow]


def ensure_manifest(data: DataSection) -> Path:
    """The manifest path, generating synthetic photos first when configured and missing."""
    if data.manifest.is_file():
        return data.manifest
    if data.synthetic is None:
        raise ManifestError(
            f"{data.manifest} not found; create it (e.g. `shanyraq synth photos`) or add a "
            "`data.synthetic` section to the recipe"
        )
    from training.synth.photos import generate_photos

    s = data.synthetic
    logger.info("generating %d synthetic photos into %s", s.n_photos, data.manifest.parent)
    made = generate_photos(s.n_photos, data.manifest.parent, seed=s.seed, size=s.size)
    if made.resolve() != data.manifest.resolve():
        raise ManifestError(f"synthetic data went to {made}, but the recipe reads {data.manifest}")
    return made


def style_of(row: ManifestRow) -> int | None:
    """The synthetic visual style of a row (manifest column `style`), or None."""
    cell = row.extra.get(STYLE_COLUMN, "").strip()
    return int(cell) if cell else None


def check_rows(
    manifest: Manifest, path: Path, *, splits: Collection[str], held_out_styles: Collection[int]
) -> None:
    """Raise ManifestError naming the first problem rows, before anything is read or written.

    Every row's labels must be in the taxonomy, its split one of train/val/test (a row of
    another split would otherwise be left out without a word) and its style a whole number.
    The photo file must exist for every row that will be read: those of `splits` and those of
    a held-out style (from every split). The checks are `shanyraq data check`'s, without the
    hashes.
    """
    taxonomy = get_taxonomy()
    held = set(held_out_styles)
    problems: list[Problem] = []
    for line, row in enumerate(manifest.rows, start=2):
        found = list(_row_problems(row, manifest.root, taxonomy, verify_hashes=False))
        try:
            style = style_of(row)
        except ValueError:
            cell = row.extra[STYLE_COLUMN]
            found.append(("malformed_row", f"{STYLE_COLUMN} {cell!r} is not a whole number"))
            style = None
        read = row.split in splits or style in held
        problems += [
            Problem(kind, line, message)
            for kind, message in found
            if kind not in ACCEPTED_PROBLEMS and (kind != "missing_file" or read)
        ]
    if problems:
        shown = "; ".join(str(p) for p in problems[:PROBLEMS_SHOWN])
        more = (
            f"; and {len(problems) - PROBLEMS_SHOWN} more" if len(problems) > PROBLEMS_SHOWN else ""
        )
        raise ManifestError(
            f"{path}: {len(problems)} problem(s) in its rows: {shown}{more}. Fix those rows "
            f"(`shanyraq data check {word(path)}` lists every problem)"
        )


def check_held_out_styles(rows: Sequence[ManifestRow], held: Collection[int], path: Path) -> None:
    """Raise ManifestError when a style to hold out has no photo: it would be measured on none."""
    present = {s for s in (style_of(r) for r in rows) if s is not None}
    missing = sorted(set(held) - present)
    if not missing:
        return
    if not present:
        raise ManifestError(
            f"{path}: styles {sorted(held)} are to be held out, but the manifest has no "
            f"'{STYLE_COLUMN}' column; hold out no style, or use a manifest that records them"
        )
    raise ManifestError(
        f"{path}: no photo has style {', '.join(map(str, missing))}, so there is nothing of it "
        f"to hold out; the manifest's styles are {', '.join(map(str, sorted(present)))}"
    )


def check_families_in_one_split(rows: Sequence[ManifestRow], path: Path) -> None:
    """Raise ManifestError when a family has photos in more than one split (a leak: the model
    would be validated or tested on a home it trained on). Ids differing only in case or
    surrounding space are one family, as shanyraq.splits splits them; the error names them as
    written. Rows without a family are not checked.
    """
    named = ((row.family_id, row.split) for row in rows if same_family(row.family_id))
    mixed = mixed_splits(named, same_family)
    if mixed:
        shown = "; ".join(_family_splits(forms) for forms in mixed[:MIXED_SHOWN])
        more = f" and {len(mixed) - MIXED_SHOWN} more" if len(mixed) > MIXED_SHOWN else ""
        raise ManifestError(
            f"{path}: {len(mixed)} famil{'y has' if len(mixed) == 1 else 'ies have'} photos in "
            f"more than one split ({shown}{more}); splits are by family, so every photo of a "
            "family must be in the same split: fix the split column of those rows"
        )


def check_photos_in_one_split(rows: Sequence[ManifestRow], path: Path) -> None:
    """Raise ManifestError when one photo is in more than one split (the same sha256, or the
    same path given different sha256s), whatever families the rows name: the model would be
    validated or tested on a photo it trained on. `shanyraq data check` finds the same."""
    leaks = photo_leaks(list(enumerate(rows, start=2)))
    if leaks:
        shown = "; ".join(p.message for p in leaks[:MIXED_SHOWN])
        more = f" and {len(leaks) - MIXED_SHOWN} more" if len(leaks) > MIXED_SHOWN else ""
        raise ManifestError(
            f"{path}: {len(leaks)} photo(s) in more than one split ({shown}{more}); the "
            "model would be measured on photos it trained on or was tuned with: keep each "
            "photo in one split, removing its rows in the others"
        )


def _family_splits(forms: dict[str, set[str]]) -> str:
    """`F1 in test, train`, or `F1 in train / f1 in test` for one family written two ways."""
    return " / ".join(
        f"{written} in {', '.join(sorted(forms[written]))}" for written in sorted(forms)
    )


def load_splits(data: DataSection) -> DataSplits:
    """The recipe's photos by split, every row checked first (`check_rows`): the train split's
    files only when it is trained on (not with `data.stream`). A family or a photo in more
    than one split is refused."""
    path = ensure_manifest(data)
    manifest = read_manifest(path)
    held = set(data.held_out_styles)
    read = SPLITS if data.stream is None else tuple(s for s in SPLITS if s != "train")
    check_rows(manifest, path, splits=read, held_out_styles=held)
    check_families_in_one_split(manifest.rows, path)
    check_photos_in_one_split(manifest.rows, path)
    check_held_out_styles(manifest.rows, held, path)

    def pick(split: str) -> list[ManifestRow]:
        return [r for r in manifest.by_split(split) if style_of(r) not in held]

    splits = DataSplits(
        manifest=path,
        manifest_sha256=sha256_file(path),
        root=manifest.root,
        train=pick("train"),
        val=pick("val"),
        test=pick("test"),
        # Every split's photos of a held-out style: none is trained or validated on, and the
        # test split alone leaves a couple of hundred photos, too few to resolve the target.
        held_out_style=[r for r in manifest.rows if held and style_of(r) in held],
    )
    # A stream renders the training photos: the manifest's train split is never read.
    needed = ("val",) if data.stream is not None else ("train", "val")
    for split in needed:
        if not getattr(splits, split):
            besides = f" besides those of the held-out styles {sorted(held)}" if held else ""
            raise ManifestError(f"{path}: no photos in the {split} split{besides}; it needs some")
    return splits
