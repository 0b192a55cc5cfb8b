"""Family datasets for training and evaluation: records, photo summaries, rules and features.

Synthetic families come from training.synth.families; their planned photos are scored by
welfare.simulate (not rendered), as documented in docs/welfare-report.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from shanyraq.taxonomy import Taxonomy, get_taxonomy
from welfare.aggregate import FamilyVisual, aggregate, room_coverage
from welfare.criteria import WelfareConfig, get_welfare_config
from welfare.features import FeatureSpace, family_features, feature_space
from welfare.fusion import COVERAGE_FEATURE
from welfare.rules import RulesOutcome, evaluate_rules
from welfare.schema import FamilyRecord, FamilyRecordError, record_from_row
from welfare.simulate import NoiseModel, SimulatedPhoto, simulate_photos

if TYPE_CHECKING:
    from training.synth.families import SyntheticFamilies

log = logging.getLogger(__name__)


@dataclass
class FamilyData:
    """Aligned per-family data: the source table, typed records, photos, rules, features."""

    table: pd.DataFrame
    records: list[FamilyRecord]
    visuals: list[FamilyVisual]
    rules: list[RulesOutcome]
    features: pd.DataFrame
    space: FeatureSpace

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, index: Sequence[int] | np.ndarray) -> FamilyData:
        idx = [int(i) for i in index]
        return FamilyData(
            table=self.table.iloc[idx].reset_index(drop=True),
            records=[self.records[i] for i in idx],
            visuals=[self.visuals[i] for i in idx],
            rules=[self.rules[i] for i in idx],
            features=self.features.iloc[idx].reset_index(drop=True),
            space=self.space,
        )

    def over_rooms(self, rooms: Sequence[str]) -> FamilyData:
        """The data with photo coverage a share of `rooms` (the visuals' room_coverage and the
        vis_room_coverage feature), the rest as it is: what a fused model trained with other
        rooms reads (welfare.assess.coverage_rooms). Coverage needs no photo again: every
        visual keeps its per-room counts, over all dwelling rooms."""
        visuals = [replace(v, room_coverage=room_coverage(v.per_room, rooms)) for v in self.visuals]
        features = self.features.copy()
        if COVERAGE_FEATURE in features.columns:
            features[COVERAGE_FEATURE] = [v.room_coverage for v in visuals]
        return FamilyData(self.table, self.records, visuals, self.rules, features, self.space)


def build_family_data(
    table: pd.DataFrame,
    photos: Mapping[str, Sequence[SimulatedPhoto]],
    *,
    config: WelfareConfig | None = None,
    taxonomy: Taxonomy | None = None,
    progress: bool = False,
) -> FamilyData:
    """Validate every row, summarise its photos, run the rules and build its features."""
    config = config or get_welfare_config()
    taxonomy = taxonomy or get_taxonomy()
    space = feature_space(config, taxonomy)
    table = table.reset_index(drop=True)
    records, visuals, rules, rows = [], [], [], []
    for row in tqdm(table.to_dict("records"), desc="families", disable=not progress):
        record = record_from_row(row, config=config)
        family_photos = photos.get(record.family_id, ())
        visual = aggregate(
            [p.score for p in family_photos],
            flags=[p.flags for p in family_photos],
            expected_rooms=config.fusion.expected_rooms,
            taxonomy=taxonomy,
        )
        records.append(record)
        visuals.append(visual)
        rules.append(evaluate_rules(record, rules=config.rules, thresholds=config.thresholds))
        rows.append(family_features(record, visual, space=space, config=config, taxonomy=taxonomy))
    _check_unique([r.family_id for r in records])
    features = pd.DataFrame(rows, columns=space.names(with_visual=True))
    return FamilyData(table, records, visuals, rules, features, space)


def _check_unique(family_ids: Sequence[str]) -> None:
    """Refuse a table that gives a family_id to two rows: photos are matched by family_id,
    so each row would be given the other's photos too, and a split could put one family on
    both sides."""
    twice = sorted(i for i, n in Counter(family_ids).items() if n > 1)
    if twice:
        shown = ", ".join(twice[:5]) + (f" and {len(twice) - 5} more" if len(twice) > 5 else "")
        raise FamilyRecordError(
            f"family_id {shown} is given to more than one row; give each family one row"
        )


def synthetic_family_data(
    n: int,
    *,
    seed: int,
    noise: NoiseModel | None = None,
    config: WelfareConfig | None = None,
    progress: bool = False,
) -> FamilyData:
    """n synthetic families (training.synth.families) with simulated photo scores, their
    records, rules and features read with `config` (default: configs/welfare.yaml).

    The families are generated with `config` too (its regions and criteria), as
    welfare.real_families generates the study's: generated with one config and read with
    another, a region or criterion value the reading config lacks is refused, and the study's
    families would not be the ones trained on."""
    families, photos = simulated_families(n, seed=seed, noise=noise, config=config)
    log.info("%d families, %d planned photos", len(families.table), len(families.photos))
    return build_family_data(families.table, photos, config=config, progress=progress)


def simulated_families(
    n: int, *, seed: int, noise: NoiseModel | None = None, config: WelfareConfig | None = None
) -> tuple[SyntheticFamilies, dict[str, list[SimulatedPhoto]]]:
    """The families `synthetic_family_data` reads (generated with `config`) and their photos'
    simulated scores, drawn with its seed."""
    from training.synth.families import generate_families

    families = generate_families(n, seed=seed, welfare=config)
    return families, simulate_photos(families.photos, seed=seed + 1, noise=noise or NoiseModel())


def split_sizes(n: int, *, test_fraction: float) -> tuple[int, int]:
    """How many of n families `split_indices` puts in training and in test (at least one)."""
    n_test = max(1, round(n * test_fraction))
    return n - n_test, n_test


def split_indices(n: int, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test family indices (a seeded permutation: families never straddle)."""
    order = np.random.default_rng(seed).permutation(n)
    _, n_test = split_sizes(n, test_fraction=test_fraction)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
