"""The real taxonomy config and broken copies of it, for the config tests."""

from __future__ import annotations

from pathlib import Path

import yaml

REAL = Path(__file__).resolve().parents[2] / "configs" / "taxonomy.yaml"


def broken_taxonomy(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(REAL.read_text())
    mutate(data)
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
