"""A small manifest of toy photos whose pixels follow their labels (room: hue, condition:
brightness, each sign: a bright square of its own), split by family: the training tests' data
(the `toy_manifest` fixture of tests/training/conftest.py, and manifests of a test's own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from shanyraq.manifest import ManifestRow, sha256_file, write_manifest

FAMILY_SPLITS = ("train",) * 6 + ("val",) * 2 + ("test",) * 2


def toy_photo(room: int, condition: int | None, signs: list[int], rng, size: int = 48):
    """Room sets the hue, condition the brightness, each sign a bright square in its own spot."""
    hue = np.array([(room * 53) % 256, (room * 97) % 256, (room * 151) % 256], dtype=np.float32)
    level = 0.4 + 0.12 * (condition or 3)
    pixels = np.clip(hue * level + rng.normal(0, 12, size=(size, size, 3)), 0, 255)
    for s in signs:
        y, x = divmod(s, 4)
        pixels[4 + y * 22 : 14 + y * 22, 2 + x * 11 : 10 + x * 11] = 255
    return pixels.astype(np.uint8)


def write_toy_manifest(folder: Path, taxonomy, *, n_families: int = 10, per_family: int = 4,
                       seed: int = 0) -> Path:  # fmt: skip
    """`folder`/manifest.csv: `per_family` toy photos of each family, the families split
    train/val/test as FAMILY_SPLITS says."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    rooms = taxonomy.room_names
    for f in range(n_families):
        split = FAMILY_SPLITS[f % len(FAMILY_SPLITS)]
        for p in range(per_family):
            room = int(rng.integers(len(rooms)))
            dwelling = rooms[room] != taxonomy.not_dwelling
            condition = int(rng.integers(1, 6)) if dwelling else None
            signs = sorted(rng.choice(8, size=int(rng.integers(0, 3)), replace=False).tolist())
            signs = signs if dwelling else []
            path = folder / f"f{f:02d}_{p}.jpg"
            Image.fromarray(toy_photo(room, condition, signs, rng)).save(path, quality=92)
            rows.append(
                ManifestRow(
                    path=path.name, sha256=sha256_file(path), family_id=f"fam{f:02d}",
                    split=split, room=rooms[room], condition=condition,
                    signs=frozenset(taxonomy.sign_names[s] for s in signs) if dwelling
                    else frozenset(),
                    source="toy", extra={"style": str(f % 3)},
                )
            )  # fmt: skip
    return write_manifest(folder / "manifest.csv", rows)
