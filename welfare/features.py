"""Family features for the fusion model: record criteria (tabular) and photo summaries (visual).

Missing values stay NaN: the tree models route them, and nothing here invents a value.
Region and head gender are never features; they are kept for fairness reports only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shanyraq.taxonomy import Taxonomy
from welfare.aggregate import FamilyVisual
from welfare.criteria import WelfareConfig
from welfare.schema import FamilyRecord

NAN = float("nan")
VISUAL_PREFIX = "vis_"


@dataclass(frozen=True)
class FeatureSpace:
    """Names of the features in model order, and plain words for each."""

    tabular: tuple[str, ...]
    visual: tuple[str, ...]
    words: dict[str, str]

    def names(self, *, with_visual: bool) -> list[str]:
        return list(self.tabular) + (list(self.visual) if with_visual else [])

    def is_visual(self, name: str) -> bool:
        return name.startswith(VISUAL_PREFIX)


def feature_space(config: WelfareConfig, taxonomy: Taxonomy) -> FeatureSpace:
    words: dict[str, str] = {}
    tabular: list[str] = []
    for c in config.criteria:
        if c.kind == "category":
            assert c.categories is not None
            for category in c.categories:
                name = f"{c.name}={category}"
                tabular.append(name)
                words[name] = f"{c.description.rstrip('.')}: {category}"
        else:
            tabular.append(c.name)
            words[c.name] = c.description.rstrip(".")
    if "settlement" in config.fusion.context_features:
        tabular.append("rural")
        words["rural"] = "Lives in a rural settlement"
    tabular += ["dependants_per_worker", "missing_criteria"]
    words["dependants_per_worker"] = "Members per working member"
    words["missing_criteria"] = "Number of criteria with no value in the record"
    visual = _visual_names(taxonomy, words)
    return FeatureSpace(tuple(tabular), tuple(visual), words)


def _visual_names(taxonomy: Taxonomy, words: dict[str, str]) -> list[str]:
    names = {
        "vis_usable_photos": "Usable photos of the home",
        "vis_flagged_photos": "Photos abstained, failed quality or reused",
        "vis_room_coverage": "Share of expected rooms photographed",
        "vis_condition_mean": "Photos: mean condition of the home (1 emergency .. 5 premium)",
        "vis_condition_min": "Photos: worst room condition (1 emergency .. 5 premium)",
        "vis_condition_max": "Photos: best room condition (1 emergency .. 5 premium)",
    }
    for room in taxonomy.dwelling_rooms:
        names[f"vis_condition_{room}"] = f"Photos: condition of the {room.replace('_', ' ')}"
    for sign in taxonomy.sign_names:
        plain = sign.replace("_", " ")
        names[f"vis_sign_mean_{sign}"] = f"Photos: share showing {plain}"
        names[f"vis_sign_max_{sign}"] = f"Photos: strongest evidence of {plain}"
    words.update(names)
    return list(names)


def family_features(
    record: FamilyRecord,
    visual: FamilyVisual | None,
    *,
    space: FeatureSpace,
    config: WelfareConfig,
) -> dict[str, float]:
    """One family's features by name; visual ones are NaN when `visual` is None."""
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
    out.update(_visual_values(visual, space))
    return {name: out[name] for name in space.names(with_visual=True)}


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
