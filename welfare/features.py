"""Family features for the fusion model: record criteria (tabular) and photo summaries (visual).

Missing values stay NaN: the tree models route them, and nothing here invents a value. The one
exception is a tally (`TALLY_INPUTS`): it counts the inputs that are recorded, as the saved models
were trained, so with some missing it is a lower bound; a reason citing it says so and names them.
Region and head gender are never features; they are kept for fairness reports only.

A derived figure joins the reason of the card criterion it restates only when it is computed
from that criterion alone (`REASON_SOURCE`; why, in welfare.explain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shanyraq.errors import ConfigError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from welfare.aggregate import FamilyVisual
from welfare.criteria import WelfareConfig
from welfare.schema import FamilyRecord

NAN = float("nan")
VISUAL_PREFIX = "vis_"
# The version of how this module (with welfare.aggregate's photo summary) computes features: bump
# it by hand with any change that gives a record's features other names, order or values under
# the same configs. A fusion model records it (`feature_basis`) and is refused under another;
# tests/welfare/test_review27_feature_basis.py fails on such a change made without a bump.
FEATURES_VERSION = 1

# Figures a social worker derives from the card: money relative to the subsistence minimum
# (configs/welfare.yaml `thresholds`), asset and hidden-income tallies, the working share.
# A figure that depends on family size says so in its words: it is a reason of its own.
DERIVED_TABULAR = {
    "income_subsistence_multiple": "Per-capita income in subsistence minimums",
    "household_income_subsistence_multiple": (
        "Household income in subsistence minimums, from per-capita income and family size"
    ),
    "deposits_subsistence_months": (
        "Deposits in months of the household's subsistence minimum, from deposits and family size"
    ),
    "purchases_to_annual_income": (
        "Large purchases (12 months) per year of household income, from purchases, "
        "per-capita income and family size"
    ),
    "registered_assets": "Dwellings, vehicles and legal entities registered to members",
    "hidden_income_signs": "Signs of hidden income (informal work, trips abroad, large buys)",
    "working_share": "Share of members who work",
}
# A derived figure computed from one card criterion alone restates it: a reason names that
# criterion once, with the figure's contribution added to it. Figures with more inputs (the
# household ones, which use members_total) are not here: they stand as reasons of their own.
REASON_SOURCE = {
    "income_subsistence_multiple": "per_capita_income_kzt",
}
# Tallies and the card criteria they count (each a count or a yes/no, never negative). A
# missing input is left out of the count, so the tally is then a lower bound ("at least"); NaN
# only when none is recorded.
TALLY_INPUTS = {
    "registered_assets": ("dwellings_owned", "vehicles_owned", "has_legal_entity"),
    "hidden_income_signs": (
        "informal_employment_signs",
        "foreign_trips_12m",
        "large_purchases_12m_kzt",
    ),
}
# Criteria the derived figures read, with the kind each must have. configs/welfare.yaml is
# checked against them when it loads (`config_problems`), not at the first family's KeyError.
READ_CRITERIA = {
    "per_capita_income_kzt": "money",
    "members_total": "count",
    "members_working": "count",
    "bank_deposits_kzt": "money",
    "dwellings_owned": "count",
    "vehicles_owned": "count",
    "has_legal_entity": "flag",
    "informal_employment_signs": "flag",
    "foreign_trips_12m": "count",
    "large_purchases_12m_kzt": "money",
}
# Tabular features added beside the criteria (`feature_space`): no criterion may take their name.
ADDED_TABULAR = ("rural", "dependants_per_worker", "missing_criteria", *DERIVED_TABULAR)
# Photo figures that are not computed from the usable photos: every other visual feature is,
# so with no usable photo they are all missing together and are one fact (welfare.explain).
PHOTO_COUNTS = ("vis_flagged_photos",)
# Photo evidence pooled over signs by what they point to (configs/taxonomy.yaml `points_to`).
DERIVED_VISUAL = {
    "vis_need_signs": "Photos: signs of need per photo (damp, damage, stove, ...)",
    "vis_welfare_signs": "Photos: signs of welfare per photo (premium appliances, finishes)",
    "vis_need_evidence": "Photos: signs of need summed over usable photos",
    "vis_welfare_evidence": "Photos: signs of welfare summed over usable photos",
    "vis_home_vs_income": "Photos: home looks better off than the declared income",
}


@dataclass(frozen=True)
class FeatureSpace:
    """Names of the features in model order, and plain words for each.

    `binary` names the yes/no features (flags, one category of a category criterion, rural):
    their values are 1 or 0, and a reason says yes or no.
    """

    tabular: tuple[str, ...]
    visual: tuple[str, ...]
    words: dict[str, str]
    binary: frozenset[str]

    def names(self, *, with_visual: bool) -> list[str]:
        return list(self.tabular) + (list(self.visual) if with_visual else [])

    def is_visual(self, name: str) -> bool:
        return name.startswith(VISUAL_PREFIX)


def config_problems(config: WelfareConfig) -> list[str]:
    """What in `config` the features cannot be built from (welfare.criteria refuses it at load):
    a criterion they read absent or of another kind, a family size that may be 0 (per-member
    figures divide by it), a criterion named like a feature added beside the criteria (two
    columns of one name), and `rural` missing from settlements while settlement is a feature."""
    kinds = {c.name: c.kind for c in config.criteria}
    problems = []
    for name, kind in READ_CRITERIA.items():
        if name not in kinds:
            problems.append(f"criterion {name} is absent; the fusion features read it, add it")
        elif kinds[name] != kind:
            problems.append(
                f"criterion {name} must be a {kind} criterion, not a {kinds[name]}; "
                "the fusion features read it so"
            )
    if kinds.get("members_total") == "count":
        least = config.criterion("members_total").min
        if least is None or least < 1:
            problems.append(
                "criterion members_total: min must be at least 1; per-member figures divide by it"
            )
    for name in kinds:
        if name in ADDED_TABULAR or name.startswith(VISUAL_PREFIX):
            problems.append(
                f"criterion {name!r} takes the name of a fusion feature (or its prefix "
                f"{VISUAL_PREFIX!r}); rename it"
            )
    if "settlement" in config.fusion.context_features and "rural" not in config.settlements:
        problems.append(
            f"settlements {config.settlements} lack 'rural', which the settlement feature "
            "(fusion.context_features) reads; add it or drop settlement from context_features"
        )
    return problems


def feature_basis(config: WelfareConfig) -> dict[str, Any]:
    """What decides a record's feature values beside the features' names: FEATURES_VERSION, the
    subsistence minimum the money figures are counted in, and the criteria with each category
    criterion's categories (another criterion changes `missing_criteria`; a family of another
    category reads as none of the model's). Words, units, sources, ranges, the order of criteria
    or categories and every other threshold decide no feature value, so none is in it."""
    return {
        "code": FEATURES_VERSION,
        "subsistence_minimum_kzt": config.thresholds.subsistence_minimum_kzt,
        "criteria": {
            c.name: sorted(c.categories or []) if c.kind == "category" else None
            for c in config.criteria
        },
    }


def feature_space(config: WelfareConfig, taxonomy: Taxonomy) -> FeatureSpace:
    words: dict[str, str] = {}
    tabular: list[str] = []
    binary: set[str] = set()
    for c in config.criteria:
        if c.kind == "category":
            assert c.categories is not None
            for category in c.categories:
                name = f"{c.name}={category}"
                tabular.append(name)
                binary.add(name)
                words[name] = f"{c.description.rstrip('.')}: {category}"
        else:
            tabular.append(c.name)
            words[c.name] = c.description.rstrip(".")
            if c.kind == "flag":
                binary.add(c.name)
    if "settlement" in config.fusion.context_features:
        tabular.append("rural")
        binary.add("rural")
        words["rural"] = "Lives in a rural settlement"
    tabular += ["dependants_per_worker", "missing_criteria", *DERIVED_TABULAR]
    words["dependants_per_worker"] = "Members per working member"
    words["missing_criteria"] = "Number of criteria with no value in the record"
    words.update(DERIVED_TABULAR)
    visual = _visual_names(taxonomy, words)
    return FeatureSpace(tuple(tabular), tuple(visual), words, frozenset(binary))


def _visual_names(taxonomy: Taxonomy, words: dict[str, str]) -> list[str]:
    names = {
        "vis_usable_photos": "Usable photos of the home",
        "vis_flagged_photos": (
            "Photos not used (abstained, failed quality, reused from another family, repeated "
            "or not a home)"
        ),
        "vis_room_coverage": "Share of expected rooms photographed",
        "vis_condition_mean": "Photos: mean condition of the home (1 emergency .. 5 premium)",
        "vis_condition_min": "Photos: worst room condition (1 emergency .. 5 premium)",
        "vis_condition_max": "Photos: best room condition (1 emergency .. 5 premium)",
    }
    for room in taxonomy.dwelling_rooms:
        if f"vis_condition_{room}" in names:  # a room named mean, min or max
            raise ConfigError(
                f"room '{room}' in configs/taxonomy.yaml would make the fusion feature "
                f"vis_condition_{room}, which is the {room} condition over all rooms already; "
                "rename the room"
            )
        names[f"vis_condition_{room}"] = f"Photos: condition of the {room.replace('_', ' ')}"
    for sign in taxonomy.sign_names:
        plain = sign.replace("_", " ")
        names[f"vis_sign_mean_{sign}"] = f"Photos: share showing {plain}"
        names[f"vis_sign_max_{sign}"] = f"Photos: strongest evidence of {plain}"
    names.update(DERIVED_VISUAL)
    words.update(names)
    return list(names)


def family_features(
    record: FamilyRecord,
    visual: FamilyVisual | None,
    *,
    space: FeatureSpace,
    config: WelfareConfig,
    taxonomy: Taxonomy | None = None,
) -> dict[str, float]:
    """One family's features by name; visual ones are NaN when `visual` is None."""
    taxonomy = taxonomy or get_taxonomy()
    out: dict[str, float] = {}
    for c in config.criteria:
        value = record.criteria[c.name]
        if c.kind == "category":
            assert c.categories is not None
            for category in c.categories:
                out[f"{c.name}={category}"] = NAN if value is None else float(value == category)
        else:
            out[c.name] = NAN if value is None else float(value)
    if "rural" in space.tabular:
        out["rural"] = float(record.settlement == "rural")
    total, working = out.get("members_total", NAN), out.get("members_working", NAN)
    out["dependants_per_worker"] = total / max(working, 1.0) if not math.isnan(total) else NAN
    out["missing_criteria"] = float(len(record.missing))
    out.update(_derived_tabular(out, config.thresholds.subsistence_minimum_kzt))
    out.update(_visual_values(visual, space))
    out.update(_derived_visual(out, visual, taxonomy))
    return {name: out[name] for name in space.names(with_visual=True)}


def _known(*values: float) -> float:
    """Sum of the known values (a tally); NaN only when none is known. With some unknown it is
    a lower bound: the saved models were trained on it so, and reasons say which are missing."""
    known = [v for v in values if not math.isnan(v)]
    return float(sum(known)) if known else NAN


def _present(value: float) -> float:
    """1 if a recorded amount is above 0, 0 if not, NaN if it is not recorded."""
    return NAN if math.isnan(value) else float(value > 0)


def _derived_tabular(out: dict[str, float], minimum_kzt: float) -> dict[str, float]:
    # NaN propagates through the arithmetic: a missing input gives a missing figure.
    income, total = out["per_capita_income_kzt"], out["members_total"]
    yearly_kzt = 12 * income * total
    return {
        "income_subsistence_multiple": income / minimum_kzt,
        "household_income_subsistence_multiple": income * total / minimum_kzt,
        "deposits_subsistence_months": out["bank_deposits_kzt"] / (total * minimum_kzt),
        "purchases_to_annual_income": out["large_purchases_12m_kzt"] / max(yearly_kzt, 1.0)
        if not math.isnan(yearly_kzt)
        else NAN,
        "registered_assets": _known(*(out[c] for c in TALLY_INPUTS["registered_assets"])),
        "hidden_income_signs": _known(
            out["informal_employment_signs"],
            _present(out["foreign_trips_12m"]),
            _present(out["large_purchases_12m_kzt"]),
        ),
        "working_share": out["members_working"] / total,
    }


def _derived_visual(
    out: dict[str, float], visual: FamilyVisual | None, taxonomy: Taxonomy
) -> dict[str, float]:
    if visual is None or not visual.n_usable:
        return dict.fromkeys(DERIVED_VISUAL, NAN)
    need = sum(
        out[f"vis_sign_mean_{s.name}"] for s in taxonomy.signs.classes if s.points_to == "need"
    )
    rich = sum(
        out[f"vis_sign_mean_{s.name}"] for s in taxonomy.signs.classes if s.points_to == "welfare"
    )
    # The home's look (mean grade, welfare minus need signs) against the declared income on a
    # log scale: large when photos suggest more money than the record shows.
    income = out["income_subsistence_multiple"]
    look = out["vis_condition_mean"] + rich - need
    gap = look - math.log(max(income, 0.01)) if not math.isnan(income) else NAN
    return {
        "vis_need_signs": need,
        "vis_welfare_signs": rich,
        "vis_need_evidence": need * visual.n_usable,
        "vis_welfare_evidence": rich * visual.n_usable,
        "vis_home_vs_income": gap,
    }


def _visual_values(visual: FamilyVisual | None, space: FeatureSpace) -> dict[str, float]:
    values = dict.fromkeys(space.visual, NAN)
    if visual is None:
        return values
    overall = visual.overall
    values.update(
        vis_usable_photos=float(visual.n_usable),
        vis_flagged_photos=float(visual.n_flagged),
        vis_room_coverage=visual.room_coverage,
        vis_condition_mean=overall.condition_mean,
        vis_condition_min=overall.condition_min,
        vis_condition_max=overall.condition_max,
    )
    for room, stats in visual.per_room.items():
        values[f"vis_condition_{room}"] = stats.condition_mean
    for sign, mean in overall.sign_mean.items():
        values[f"vis_sign_mean_{sign}"] = mean
        values[f"vis_sign_max_{sign}"] = overall.sign_max[sign]
    return values
