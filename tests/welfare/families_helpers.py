"""Hand-made families for welfare tests: a small seeded table with the contract's columns.

Not the project's synthetic generator: a tiny stand-in whose causal story is plain (level
drives income, property and home condition; hidden-income families under-report income but
their homes still look like their true level), so tests can check what the models learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from welfare.criteria import WelfareConfig

INCOME_MULTIPLES = [0.3, 0.55, 0.85, 1.4, 2.4, 5.5]


@dataclass(frozen=True)
class Planned:
    family_id: str
    room: str
    condition: int | None
    signs: frozenset[str]
    style: int
    usable: bool
    unusable_reason: str | None


def base_criteria(config: WelfareConfig) -> dict[str, float | str | None]:
    """A valid, modest family of three with one worker, income under the poverty line."""
    values: dict[str, float | str | None] = {}
    for c in config.criteria:
        values[c.name] = c.categories[0] if c.kind == "category" else 0.0
    values.update(
        per_capita_income_kzt=20_000.0,
        members_total=3.0,
        members_working=1.0,
        dwelling_area_per_person_m2=12.0,
        members_insured_share=1.0,
        head_education_level=1.0,
    )
    return values


def family(config: WelfareConfig, family_id: str = "f1", **criteria) -> dict:
    values = base_criteria(config)
    values.update(criteria)
    return {
        "family_id": family_id,
        "region": config.regions[0],
        "settlement": "urban",
        "head_gender": "female",
        "criteria": values,
    }


def make_families(
    n: int, *, seed: int, config: WelfareConfig
) -> tuple[pd.DataFrame, list[Planned]]:
    rng = np.random.default_rng(seed)
    t = config.thresholds
    rows, photos = [], []
    for i in range(n):
        fid = f"fam{seed}-{i:05d}"
        level = int(rng.integers(1, 7))
        hidden = rng.random() < 0.15
        true_income = (
            t.subsistence_minimum_kzt * INCOME_MULTIPLES[level - 1] * rng.lognormal(0, 0.2)
        )
        declared = true_income * rng.uniform(0.15, 0.4) if hidden else true_income
        total = int(rng.integers(1, 8))
        planned = _photos(fid, level, rng)
        values = base_criteria(config)
        values.update(
            per_capita_income_kzt=round(declared),
            members_total=float(total),
            members_working=float(rng.integers(0, total + 1)),
            dwelling_area_per_person_m2=float(round(6 + 4 * level + rng.normal(0, 3), 1)),
            vehicles_owned=float(rng.poisson(0.3 * level) if level < 6 else rng.integers(0, 3)),
            dwellings_owned=float(rng.integers(0, 2)),
            bank_deposits_kzt=float(round(rng.lognormal(8 + level, 1))),
            members_with_disability=float(rng.random() < 0.15),
            foreign_trips_12m=float(rng.poisson(0.4 * level if hidden or level > 4 else 0.1)),
            housing_tenure=str(rng.choice(["owned", "rented", "social", "relatives"])),
        )
        for name in ("bank_deposits_kzt", "head_education_level", "foreign_trips_12m"):
            if rng.random() < 0.03:
                values[name] = np.nan
        rows.append(
            {
                "family_id": fid,
                "region": str(rng.choice(config.regions)),
                "settlement": str(rng.choice(["urban", "rural"])),
                "head_gender": str(rng.choice(["female", "male"])),
                "latent_level": level,
                "asp_eligible": bool(true_income < t.poverty_line_kzt),
                "case": "hidden_income" if hidden else "typical",
                "n_photos": len(planned),
                **values,
            }
        )
        photos += planned
    return pd.DataFrame(rows), photos


def _photos(fid: str, level: int, rng: np.random.Generator) -> list[Planned]:
    out = []
    rooms = ["kitchen", "bathroom", "bedroom", "living_room", "exterior"]
    for room in rng.choice(rooms, size=int(rng.integers(3, 6)), replace=False):
        condition = int(np.clip(round(0.75 * level + 0.4 + rng.normal(0, 0.4)), 1, 5))
        signs = set()
        if level <= 2 and rng.random() < 0.6:
            signs.add("damp_mould")
        if level >= 5 and rng.random() < 0.6:
            signs.add("premium_finishes")
        usable = rng.random() > 0.05
        out.append(
            Planned(
                fid, str(room), condition, frozenset(signs), 0, usable, None if usable else "blur"
            )
        )
    return out
