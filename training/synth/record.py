"""The synthetic Digital Family Card: 23 criteria drawn from a family's latent welfare level.

Income is the level's multiple of the subsistence minimum (configs/synth.yaml); the other
criteria lean on the level through the small profile below, so that no one criterion decides
the level. Hidden-income families report a fraction of their true income, and carry more of
the hidden-income signs. Every value is clipped to its configs/welfare.yaml range.
"""

from __future__ import annotations

import math

import numpy as np

from training.synth.config import FamilySettings
from welfare.criteria import WelfareConfig

# The profile below is written for the six Digital Family Card levels (configs/welfare.yaml).
PROFILE_LEVELS = 6
# Criteria never left empty: eligibility and per-capita figures need them.
ALWAYS_PRESENT = ("per_capita_income_kzt", "members_total")
_TENURE_POOR = {"rented": 0.3, "relatives": 0.3, "informal": 0.2, "social": 0.1, "owned": 0.1}
_TENURE_RICH = {"owned": 0.85, "rented": 0.1, "relatives": 0.05}


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _household(rng: np.random.Generator, level: int) -> dict[str, float]:
    need = (6 - level) / 5  # 1 at the lowest level, 0 at the highest
    total = int(min(12, 1 + rng.poisson(1.8 + 2.0 * need)))
    children = int(rng.binomial(total - 1, 0.3 + 0.15 * need)) if total > 1 else 0
    adults = total - children
    pensioners = int(rng.binomial(max(adults - 1, 0), 0.2))
    able = adults - pensioners
    working = int(rng.binomial(able, 0.85 - 0.6 * need))
    if level >= 5:
        working = max(working, min(1, able))
    unemployed = able - working
    return {
        "members_total": total,
        "children_under_18": children,
        "pensioners": pensioners,
        "members_working": working,
        "unemployed_able_bodied": unemployed,
        "members_in_training": int(rng.binomial(unemployed, 0.15)),
        "registered_job_seekers": int(rng.binomial(unemployed, 0.4)),
        "children_out_of_school": int(rng.binomial(children, 0.01 + 0.06 * need)),
        "members_with_disability": int(rng.binomial(total, 0.02 + 0.05 * need)),
        "members_chronically_ill": int(rng.binomial(total, 0.06 + 0.06 * need)),
    }


def _assets(rng: np.random.Generator, level: int, case: str) -> dict[str, float | str]:
    rich = (level - 1) / 5
    dwellings = int(rng.poisson(0.3 + 0.8 * rich)) + (1 if level == 6 and rng.random() < 0.6 else 0)
    tenure = _choice(rng, _TENURE_RICH if rng.random() < 0.3 + 0.65 * rich else _TENURE_POOR)
    if case == "poor_decent_rental":
        tenure, dwellings = "rented", 0
    elif tenure == "owned":
        dwellings = max(dwellings, 1)
    vehicles = int(rng.poisson(0.1 + 1.2 * rich**1.5))
    if level == 6 and rng.random() < 0.5:
        vehicles = max(vehicles, 2)
    if case == "hidden_income":
        vehicles = max(vehicles, int(rng.integers(1, 3)))
    deposits = 0.0 if rng.random() < 0.7 - 0.6 * rich else float(rng.lognormal(12 + 3 * rich, 1))
    return {
        "dwellings_owned": dwellings,
        "housing_tenure": tenure,
        "dwelling_area_per_person_m2": float(rng.lognormal(math.log(9 + 22 * rich), 0.25)),
        "vehicles_owned": vehicles,
        "has_legal_entity": int(
            rng.random() < 0.02 + 0.3 * rich**3 + (0.2 if case == "hidden_income" else 0)
        ),
        "bank_deposits_kzt": deposits,
        "credit_burden_ratio": float(rng.beta(1.5, 5) * (1.2 - 0.6 * rich)),
    }


def _hidden_signs(rng: np.random.Generator, level: int, case: str) -> dict[str, float]:
    rich = (level - 1) / 5
    hidden = case == "hidden_income"
    large = 0.0
    if rng.random() < (0.6 if hidden else 0.05 + 0.4 * rich**2):
        large = float(rng.lognormal(15.5 + rich, 0.6))
    return {
        "informal_employment_signs": int(rng.random() < (0.7 if hidden else 0.04 + 0.05 * rich)),
        "foreign_trips_12m": int(rng.poisson(2.0 if hidden else 0.05 + 1.5 * rich**2)),
        "large_purchases_12m_kzt": large,
    }


def sample_criteria(
    rng: np.random.Generator,
    *,
    level: int,
    case: str,
    settings: FamilySettings,
    welfare: WelfareConfig,
) -> dict[str, float | str | None]:
    """All 23 criteria of one family (None where a value is missing on purpose)."""
    minimum = welfare.thresholds.subsistence_minimum_kzt
    multiple = settings.income_multiples[level - 1]
    income = minimum * multiple * float(rng.lognormal(0.0, settings.income_log_sd))
    if case == "hidden_income":
        low, high = settings.hidden_income_reported_poverty_multiple
        income = welfare.thresholds.poverty_line_kzt * float(rng.uniform(low, high))
    rich = (level - 1) / 5
    values: dict[str, float | str | None] = {
        "per_capita_income_kzt": round(income),
        "head_education_level": int(np.clip(round(rng.normal(1 + 2 * rich, 0.8)), 0, 4)),
        "members_insured_share": float(np.clip(rng.beta(2 + 6 * rich, 2), 0, 1)),
        **_household(rng, level),
        **_assets(rng, level, case),
        **_hidden_signs(rng, level, case),
    }
    missing = set(welfare.criterion_names) - set(values)
    if missing:
        raise ValueError(f"the generator does not make criteria {sorted(missing)}")
    for criterion in welfare.criteria:
        value = values[criterion.name]
        if isinstance(value, int | float) and criterion.kind != "flag":
            lo = -math.inf if criterion.min is None else criterion.min
            hi = math.inf if criterion.max is None else criterion.max
            value = min(max(value, lo), hi)
            values[criterion.name] = round(value, 3) if isinstance(value, float) else value
        if criterion.name not in ALWAYS_PRESENT and rng.random() < settings.missing_criterion_rate:
            values[criterion.name] = None
    return {name: values[name] for name in welfare.criterion_names}
