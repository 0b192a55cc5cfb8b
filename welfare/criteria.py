"""configs/welfare.yaml as typed objects: criteria, regions, levels and income thresholds."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from shanyraq.config import StrictModel, default_configs_dir, load_config

Group = Literal["material", "non_material", "dependency_load", "self_realisation", "hidden_income"]
Kind = Literal["money", "count", "area", "ratio", "flag", "level", "category"]


class Criterion(StrictModel):
    """One Digital Family Card criterion with its unit, valid range and source."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    group: Group
    kind: Kind
    unit: str
    description: str
    source: str
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> Criterion:
        if self.kind == "category":
            if not self.categories:
                raise ValueError(f"{self.name}: a category criterion needs `categories`")
        elif self.kind != "flag" and (self.min is None or self.max is None):
            raise ValueError(f"{self.name}: a {self.kind} criterion needs `min` and `max`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} is above max {self.max}")
        return self


class Level(StrictModel):
    value: int = Field(ge=1)
    name: str
    description: str


class Thresholds(StrictModel):
    year: int = Field(ge=2000)
    subsistence_minimum_kzt: float = Field(gt=0)
    subsistence_minimum_source: str
    poverty_line_kzt: float = Field(gt=0)
    poverty_line_source: str


class WelfareConfig(StrictModel):
    version: int = Field(ge=1)
    criteria: list[Criterion] = Field(min_length=1)
    regions: list[str] = Field(min_length=1)
    settlements: list[str] = Field(min_length=1)
    levels: list[Level] = Field(min_length=2)
    thresholds: Thresholds

    @model_validator(mode="after")
    def _check(self) -> WelfareConfig:
        names = [c.name for c in self.criteria]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate criteria: {duplicates}")
        values = [lv.value for lv in self.levels]
        if values != list(range(1, len(values) + 1)):
            raise ValueError(f"level values must be 1, 2, ... in order; got {values}")
        return self

    def criterion(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def criterion_names(self) -> list[str]:
        return [c.name for c in self.criteria]

    @property
    def level_values(self) -> list[int]:
        return [lv.value for lv in self.levels]


def load_welfare_config(path: Path | None = None) -> WelfareConfig:
    return load_config(path or default_configs_dir() / "welfare.yaml", WelfareConfig)


@lru_cache(maxsize=1)
def get_welfare_config() -> WelfareConfig:
    return load_welfare_config()
