"""Manifests and the files they list, written for the manifest and CLI data tests."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from shanyraq.manifest import REQUIRED_COLUMNS

HEADER = ",".join(REQUIRED_COLUMNS)


def manifest_of_lines(root: Path, lines: list[str]) -> Path:
    path = root / "manifest.csv"
    path.write_text("\n".join([HEADER, *lines, ""]), encoding="utf-8")
    return path


def file_with_digest(root: Path, name: str, content: bytes) -> str:
    (root / name).write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def clean_rows(root: Path, n_families: int = 4, per_family: int = 3) -> list[dict[str, str]]:
    rows = []
    rooms = ["kitchen", "bedroom", "bathroom"]
    for f in range(n_families):
        for p in range(per_family):
            name = f"f{f}_p{p}.jpg"
            content = f"photo {f} {p}".encode()
            (root / name).write_bytes(content)
            rows.append(
                {
                    "path": name,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "family_id": f"F{f}",
                    "split": "train" if f < 2 else ("val" if f == 2 else "test"),
                    "room": rooms[p % 3],
                    "condition": str(1 + (f + p) % 5),
                    "signs": "damp_mould;broken_window" if p == 0 else "none",
                    "source": "test",
                }
            )
    return rows


def write_rows(root: Path, rows: list[dict[str, str]]) -> Path:
    path = root / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
