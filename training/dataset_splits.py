"""The photos a recipe trains, validates and tests on, read from its manifest.

When the manifest does not exist and the recipe names synthetic data, it is generated first
(training.synth). Photos of held-out styles are kept out of train and val and measured apart.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shanyraq.errors import ManifestError
from shanyraq.manifest import ManifestRow, read_manifest, sha256_file
from training.recipe import DataSection

logger = logging.getLogger(__name__)

STYLE_COLUMN = "style"
MIXED_SHOWN = 3  # families named in the error


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


def check_families_in_one_split(rows: Sequence[ManifestRow], path: Path) -> None:
    """Raise ManifestError when a family has photos in more than one split (a leak: the model
    would be validated or tested on a home it trained on). Rows without a family are not checked.
    """
    splits: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.family_id:
            splits[row.family_id].add(row.split)
    mixed = sorted(f for f, s in splits.items() if len(s) > 1)
    if mixed:
        shown = "; ".join(f"{f} in {', '.join(sorted(splits[f]))}" for f in mixed[:MIXED_SHOWN])
        more = f" and {len(mixed) - MIXED_SHOWN} more" if len(mixed) > MIXED_SHOWN else ""
        raise ManifestError(
            f"{path}: {len(mixed)} famil{'y has' if len(mixed) == 1 else 'ies have'} photos in "
            f"more than one split ({shown}{more}); splits are by family, so every photo of a "
            "family must be in the same split: fix the split column of those rows"
        )


def load_splits(data: DataSection) -> DataSplits:
    path = ensure_manifest(data)
    manifest = read_manifest(path)
    check_families_in_one_split(manifest.rows, path)
    held = set(data.held_out_styles)
    if held and not any(style_of(r) is not None for r in manifest.rows):
        raise ManifestError(
            f"{path}: the recipe holds out styles {sorted(held)}, but the manifest has no "
            f"'{STYLE_COLUMN}' column"
        )

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
    if not splits.train or not splits.val:
        raise ManifestError(f"{path}: needs photos in both the train and val splits")
    return splits
