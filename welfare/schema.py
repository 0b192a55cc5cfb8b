"""`FamilyRecord`: one family's Digital Family Card record, validated against configs/welfare.yaml.

Every criterion must be present; a value not known is given explicitly as `None` (an empty
cell in a table) and is never filled in here. Missing values flow on into rules (which then
cannot fire on them), the model (trees route missing values) and the reasons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from shanyraq.errors import InputFileError, ShanyraqError, read_json_file
from welfare.criteria import Criterion, WelfareConfig, get_welfare_config

CriterionValue = float | str | None
_TOTAL = "members_total"


class FamilyRecordError(ShanyraqError):
    """A family record breaks the rules of configs/welfare.yaml; the message says what to fix."""

    code = "family_record_invalid"
    http_status = 422


class FamilyRecord(BaseModel):
    """A family: identity, context (region, settlement, head gender) and the 23 criteria."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family_id: str = Field(min_length=1)
    region: str
    settlement: str
    head_gender: str
    # bool only until `_check`: a boolean left after validation is refused (see below).
    criteria: dict[str, CriterionValue | bool]

    @model_validator(mode="before")
    @classmethod
    def _flags_from_booleans(cls, data: Any, info: ValidationInfo) -> Any:
        """true/false answers a yes/no flag only: it becomes 1/0 there, and stays a boolean
        anywhere else, for `_check` to refuse with the record's other problems (pydantic alone
        would read `true` as the count 1)."""
        criteria = data.get("criteria") if isinstance(data, dict) else None
        if not isinstance(criteria, dict):
            return data
        config: WelfareConfig = (info.context or {}).get("config") or get_welfare_config()
        flags = {c.name for c in config.criteria if c.kind == "flag"}
        read = {
            name: float(value) if isinstance(value, bool) and name in flags else value
            for name, value in criteria.items()
        }
        return {**data, "criteria": read}

    @model_validator(mode="before")
    @classmethod
    def _in_config_order(cls, data: Any, info: ValidationInfo) -> Any:
        """The criteria in configs/welfare.yaml's order, whatever order the record gave them:
        what lists them (`missing`, the reasons) reads the same for the same record."""
        criteria = data.get("criteria") if isinstance(data, dict) else None
        if not isinstance(criteria, dict):
            return data
        config: WelfareConfig = (info.context or {}).get("config") or get_welfare_config()
        order = {c.name: i for i, c in enumerate(config.criteria)}
        ranked = sorted(criteria, key=lambda name: order.get(name, len(order)))
        return {**data, "criteria": {name: criteria[name] for name in ranked}}

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> FamilyRecord:
        context = info.context or {}
        config: WelfareConfig = context.get("config") or get_welfare_config()
        problems = _context_problems(self, config) + _criteria_problems(self.criteria, config)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def missing(self) -> list[str]:
        """Criteria given as missing, in the order of configs/welfare.yaml."""
        return [name for name, value in self.criteria.items() if value is None]

    def number(self, name: str) -> float | None:
        value = self.criteria[name]
        return None if value is None or isinstance(value, str) else float(value)


def parse_family(data: Mapping[str, Any], *, config: WelfareConfig | None = None) -> FamilyRecord:
    """Validate a mapping into a FamilyRecord; problems become one FamilyRecordError."""
    config = config or get_welfare_config()
    try:
        return FamilyRecord.model_validate(dict(data), context={"config": config})
    except ValidationError as exc:
        messages: list[str] = []
        for problem in exc.errors():
            text = _problem_text(problem["type"], problem["loc"], str(problem["msg"]), config)
            if text not in messages:  # a criterion's value fails each type of its union
                messages.append(text)
        family = data.get("family_id", "?")
        raise FamilyRecordError(f"family {family}: " + "; ".join(messages)) from None


def _problem_text(kind: str, loc: tuple[int | str, ...], text: str, config: WelfareConfig) -> str:
    """One of pydantic's problems said as what to give: its own words would offer a criterion
    "a valid string" and leave an unknown or absent field without a next step."""
    if not loc:  # our own checks: their text names the field already
        return text.removeprefix("Value error, ")
    where = ".".join(str(p) for p in loc)
    fields = ", ".join(FamilyRecord.model_fields)
    if kind == "extra_forbidden":
        return f"unknown field {where!r}; a family record has {fields}"
    if kind == "missing":
        return f"{where} is absent; give it"
    if loc[0] == "criteria" and len(loc) == 3:  # ("criteria", name, the union member tried)
        name = str(loc[1])
        if name not in config.criterion_names:
            return f"unknown criterion {name!r}; the criteria are listed in configs/welfare.yaml"
        c = config.criterion(name)
        wanted = f"one of {c.categories}" if c.kind == "category" else f"a number ({c.unit})"
        return f"criteria.{name}: expected {wanted}, or null to mark it missing"
    return f"{where}: {text}"


def read_family(path: Path, *, config: WelfareConfig | None = None) -> FamilyRecord:
    """The family record in the JSON file `path` (one object, FamilyRecord's fields)."""
    data = read_json_file(path, "a family record (JSON object)")
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: expected one family record, a JSON object")
    return parse_family(data, config=config)


def record_from_row(row: Mapping[str, Any], *, config: WelfareConfig | None = None) -> FamilyRecord:
    """A FamilyRecord from one table row: empty cells/NaN become explicit missing values."""
    config = config or get_welfare_config()
    absent = [c.name for c in config.criteria if c.name not in row]
    if absent:
        raise FamilyRecordError(
            f"family {row.get('family_id', '?')}: columns {absent} are absent; add them "
            "(leave a cell empty to mark a value missing)"
        )
    criteria = {c.name: _cell(row[c.name], c) for c in config.criteria}
    identity = ("family_id", "region", "settlement", "head_gender")
    # An empty cell (NaN in a table) is refused, not read as the text 'nan' or 'None'.
    texts = {name: _text(row.get(name)) for name in identity}
    empty = [name for name, value in texts.items() if value is None]
    if empty:
        raise FamilyRecordError(
            f"family {texts['family_id'] or '?'}: "
            + "; ".join(f"{name} is empty; give it" for name in empty)
        )
    return parse_family({**texts, "criteria": criteria}, config=config)


def _text(value: Any) -> str | None:
    """A cell as text; None for an empty one (None, NaN, blank)."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    text = str(value)
    return text if text.strip() else None


def _cell(value: Any, criterion: Criterion) -> CriterionValue | bool:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, bool | np.bool_):
        # A flag may come as true/false; anywhere else it is refused by validation.
        return float(value) if criterion.kind == "flag" else bool(value)
    if isinstance(value, str) and not value.strip():
        return None
    if criterion.kind == "category":
        return str(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # left for validation to refuse with a clear message
    return float(value)


def _context_problems(record: FamilyRecord, config: WelfareConfig) -> list[str]:
    problems = []
    if not record.family_id.strip() or record.family_id != record.family_id.strip():
        # " F1" and "F1" would be two families, "   " none: no id a person could tell apart.
        problems.append(
            f"family_id {record.family_id!r} is blank or has spaces around it; give the id alone"
        )
    for field, allowed in (
        ("region", config.regions),
        ("settlement", config.settlements),
        ("head_gender", config.head_genders),
    ):
        value = getattr(record, field)
        if value not in allowed:
            problems.append(f"unknown {field} {value!r}; expected one of {allowed}")
    return problems


def _criteria_problems(
    values: dict[str, CriterionValue | bool], config: WelfareConfig
) -> list[str]:
    known = {c.name: c for c in config.criteria}
    problems = [
        f"unknown criterion {name!r}; the criteria are listed in configs/welfare.yaml"
        for name in values
        if name not in known
    ]
    valid: dict[str, CriterionValue] = {}
    for name, criterion in known.items():
        if name not in values:
            problems.append(f"{name} is absent; give its value, or null to mark it missing")
            continue
        value = values[name]
        wrong = [] if value is None else _value_problems(criterion, value)
        problems.extend(wrong)
        if not wrong and not isinstance(value, bool):
            valid[name] = value
    # Weighed among the values that passed alone, so a contradiction is not held back until
    # another value is fixed, and a value refused alone is not refused twice.
    return problems + _consistency_problems(valid, config)


def _value_problems(c: Criterion, value: float | str | bool) -> list[str]:
    if isinstance(value, bool):  # flags were read as 1/0 before; pydantic would count it 1
        word = str(value).lower()
        if c.kind == "category":
            return [f"{c.name}: {word} is not one of {c.categories}"]
        return [
            f"{c.name}: expected a number ({c.unit}), got {word}; "
            "true/false is only for yes/no flags"
        ]
    if c.kind == "category":
        assert c.categories is not None
        if value not in c.categories:
            return [f"{c.name}: {value!r} is not one of {c.categories}"]
        return []
    if isinstance(value, str):
        if c.kind == "flag":
            return [f"{c.name}: a yes/no flag is true/false or 1/0; got {value!r}"]
        return [f"{c.name}: expected a number ({c.unit}), got {value!r}"]
    if math.isnan(value) or math.isinf(value):
        return [f"{c.name}: expected a finite number; use null to mark a value missing"]
    if c.kind == "flag":
        return [] if value in (0.0, 1.0) else [f"{c.name}: a yes/no flag must be 0 or 1"]
    if value < 0:
        return [f"{c.name} cannot be negative ({c.unit}); got {value:g}"]
    if c.name == _TOTAL and c.min is not None and value < c.min:
        return [f"{c.name} must be at least {c.min:g}: a family has a member; got {value:g}"]
    if c.kind in ("count", "level") and not float(value).is_integer():
        return [f"{c.name} must be a whole number ({c.unit}); got {value:g}"]
    if (c.min is not None and value < c.min) or (c.max is not None and value > c.max):
        return [f"{c.name} must be between {c.min:g} and {c.max:g} ({c.unit}); got {value:g}"]
    return []


def _consistency_problems(values: dict[str, CriterionValue], config: WelfareConfig) -> list[str]:
    """Counts of people within the family (configs/welfare.yaml `within`, `disjoint_counts`)."""

    def known(name: str) -> float | None:
        value = values.get(name)
        return value if isinstance(value, float) else None

    problems = []
    for c in config.criteria:
        value = known(c.name)
        for name in c.within:
            bound = known(name)
            if value is not None and bound is not None and value > bound:
                problems.append(
                    f"{c.name} ({value:g}) is more than {name} ({bound:g}); check both counts"
                )
    within = {c.name: c.within for c in config.criteria}
    for group in config.disjoint_counts:
        # Missing parts count as none: the known ones alone must already fit.
        parts = [(name, v) for name in group.counts if (v := known(name)) is not None]
        bound = known(group.within)
        if bound is None or len(parts) < 2:
            continue
        said = any(v > bound and group.within in within[name] for name, v in parts)
        total = sum(v for _, v in parts)
        if total > bound and not said:
            terms = " + ".join(f"{name} ({v:g})" for name, v in parts)
            problems.append(
                f"{terms} = {total:g} is more than {group.within} ({bound:g}), yet no one is "
                f"in two of these ({group.why}); check the counts"
            )
    return problems
