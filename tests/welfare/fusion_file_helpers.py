"""A saved fusion model's folder: its fusion.json rewritten in place (a feature basis of an
older code, say), every file's bytes, and the refusal of the model loaded for other welfare
levels."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shanyraq.errors import ModelMismatchError
from welfare.features import FEATURES_VERSION
from welfare.fusion import FusionModel


def rewrite(folder: Path, change: Callable[[dict[str, Any]], object]) -> None:
    path = folder / "fusion.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def older_code(data: dict[str, Any]) -> None:
    data["feature_basis"]["code"] = FEATURES_VERSION - 1


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


SEVEN = [1, 2, 3, 4, 5, 6, 7]  # welfare levels the models were not trained on


def refused_load(folder: Path, config) -> str:
    """The refusal of the model in `folder` loaded for other welfare levels: it names the command
    that builds it again where it is."""
    with pytest.raises(ModelMismatchError, match="welfare levels") as caught:
        FusionModel.load(folder, levels=SEVEN, config=config)
    return str(caught.value)
