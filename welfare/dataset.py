"""Family datasets for training and evaluation: records, photo summaries, rules and features.

Synthetic families come from training.synth.families; their planned photos are scored by
welfare.simulate (not rendered), as documented in docs/welfare-report.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from shanyraq.taxonomy import Taxonomy, get_taxonomy
from welfare.aggregate import FamilyVisual, aggregate
from welfare.criteria import WelfareConfig, get_welfare_config
from welfare.features import FeatureSpace, family_features, feature_space
from welfare.rules import RulesOutcome, evaluate_rules
from welfare.schema import FamilyRecord, FamilyRecordError, record_from_row
from welfare.simulate import NoiseModel, SimulatedPhoto, simulate_photos

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
    n: int, *, seed: int, noise: NoiseModel | None = None, progress: bool = False
) -> FamilyData:
    """n synthetic families (training.synth.families) with simulated photo scores."""
    from training.synth.families import generate_families

    families = generate_families(n, seed=seed)
    photos = simulate_photos(families.photos, seed=seed + 1, noise=noise or NoiseModel())
    log.info("%d families, %d planned photos", len(families.table), len(families.photos))
    return build_family_data(families.table, photos, progress=progress)


def split_sizes(n: int, *, test_fraction: float) -> tuple[int, int]:
    """How many of n families `split_indices` puts in training and in test (at least one)."""
    n_test = max(1, round(n * test_fraction))
    return n - n_test, n_test


def split_indices(n: int, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test family indices (a seeded permutation: families never straddle)."""
    order = np.random.default_rng(seed).permutation(n)
    _, n_test = split_sizes(n, test_fraction=test_fraction)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
