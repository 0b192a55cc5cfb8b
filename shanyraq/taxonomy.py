"""The visual taxonomy (configs/taxonomy.yaml) as typed objects; code never repeats its labels."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from shanyraq.config import StrictModel, default_configs_dir, load_config

HeadName = Literal["room", "condition", "signs"]
HEADS: tuple[HeadName, ...] = ("room", "condition", "signs")


class RoomClass(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str


class RoomHead(StrictModel):
    description: str = ""
    classes: list[RoomClass] = Field(min_length=2)
    not_dwelling: str

    @model_validator(mode="after")
    def _check(self) -> RoomHead:
        names = [c.name for c in self.classes]
        _require_unique(names, "room.classes")
        if self.not_dwelling not in names:
            raise ValueError(f"not_dwelling '{self.not_dwelling}' must be one of {names}")
        return self


class Grade(StrictModel):
    # strict: YAML reads `yes` as True and "1" stays a string; neither is grade 1.
    value: int = Field(ge=1, strict=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str


class ConditionHead(StrictModel):
    description: str = ""
    grades: list[Grade] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self) -> ConditionHead:
        values = [g.value for g in self.grades]
        if values != list(range(1, len(values) + 1)):
            raise ValueError(f"grade values must be 1, 2, ... in order; got {values}")
        _require_unique([g.name for g in self.grades], "condition.grades")
        return self


class Sign(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    points_to: Literal["need", "welfare"]


class SignsHead(StrictModel):
    description: str = ""
    classes: list[Sign] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> SignsHead:
        names = [s.name for s in self.classes]
        _require_unique(names, "signs.classes")
        if "none" in names:
            raise ValueError("'none' is reserved (it marks a photo labelled with no signs)")
        return self


def _require_unique(names: list[str], where: str) -> None:
    seen = {n for n in names if names.count(n) > 1}
    if seen:
        raise ValueError(f"duplicate names in {where}: {sorted(seen)}")


class Taxonomy(StrictModel):
    """Per photo: one room, one condition grade (not for not_dwelling), any signs."""

    version: int = Field(ge=1, strict=True)  # strict: `true`, "2" or 2.0 is not a version
    room: RoomHead
    condition: ConditionHead
    signs: SignsHead

    @property
    def room_names(self) -> list[str]:
        return [c.name for c in self.room.classes]

    @property
    def dwelling_rooms(self) -> list[str]:
        return [n for n in self.room_names if n != self.room.not_dwelling]

    @property
    def not_dwelling(self) -> str:
        return self.room.not_dwelling

    @property
    def condition_values(self) -> list[int]:
        return [g.value for g in self.condition.grades]

    @property
    def sign_names(self) -> list[str]:
        return [s.name for s in self.signs.classes]

    def head_size(self, head: HeadName) -> int:
        sizes = {
            "room": len(self.room.classes),
            "condition": len(self.condition.grades),
            "signs": len(self.signs.classes),
        }
        return sizes[head]

    def grade(self, value: int) -> Grade:
        """The grade of `value`; ValueError outside the scale (0 would index from the end)."""
        if value not in self.condition_values:
            values = ", ".join(map(str, self.condition_values))
            raise ValueError(f"condition grade {value} is not one of {values}")
        return self.condition.grades[value - 1]

    def fingerprint(self) -> str:
        """sha256 over the canonical content: two taxonomies match only if this does."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read a taxonomy file (default: configs/taxonomy.yaml)."""
    return load_config(path or default_configs_dir() / "taxonomy.yaml", Taxonomy)


@lru_cache(maxsize=1)
def get_taxonomy() -> Taxonomy:
    """The installation's taxonomy, read once."""
    return load_taxonomy()
