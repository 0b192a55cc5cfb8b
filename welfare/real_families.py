"""The families the real-score study works on: rows, planned photos and simulated scores.

The study (welfare.real_scores, welfare.real_evaluation) takes families of the very data
(n, seed) the fusion models were trained and evaluated on: test families to compare the
models (`held_out_families`), or any families by index (`families_at`, which
welfare.real_training uses for training families). Their simulated photo scores are drawn
with the seed `synthetic_family_data` uses, so the simulated reading is the one the models
were evaluated on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from welfare.criteria import WelfareConfig
from welfare.dataset import split_indices
from welfare.fusion import FamilyCountError
from welfare.simulate import NoiseModel, SimulatedPhoto, simulate_photos

if TYPE_CHECKING:
    from training.synth.config import SynthConfig
    from training.synth.families import PlannedPhoto


@dataclass(frozen=True)
class HeldOut:
    """Families of the models' data (test families, or training families for
    welfare.real_training): their rows, planned photos and simulated scores."""

    table: pd.DataFrame
    planned: list[tuple[int, PlannedPhoto]]  # (photo index in the whole generated set, photo)
    simulated: dict[str, list[SimulatedPhoto]]
    n: int
    seed: int


def held_out_families(
    n_families: int, *, n: int, seed: int, config: WelfareConfig, synth: SynthConfig | None = None
) -> HeldOut:
    """The first `n_families` of the test split `welfare evaluate` uses for data (n, seed).

    Simulated scores are drawn for every planned photo with the seed `synthetic_family_data`
    uses, so the simulated reading is the very one the models were evaluated on.
    """
    _, test_idx = split_indices(n, test_fraction=config.fusion.test_fraction, seed=seed)
    check_subset(n_families, available=len(test_idx), split="test", n=n, seed=seed)
    return families_at(test_idx[:n_families], n=n, seed=seed, config=config, synth=synth)


def check_subset(n_families: int, *, available: int, split: str, n: int, seed: int) -> None:
    """Refuse asking for fewer than one family, or more than the `split` split holds."""
    if not 1 <= n_families <= available:
        raise FamilyCountError(
            f"asked for {n_families} {split} families, but the data the models were trained on "
            f"({n} families, seed {seed}) holds {available} in its {split} split; ask for 1 to "
            f"{available}"
        )


def families_at(
    index: np.ndarray, *, n: int, seed: int, config: WelfareConfig, synth: SynthConfig | None = None
) -> HeldOut:
    """Families `index` of the data (n, seed): rows, planned photos, simulated scores."""
    from training.synth.families import generate_families

    families = generate_families(n, seed=seed, config=synth, welfare=config)
    chosen = families.table.iloc[np.asarray(index, dtype=int)].reset_index(drop=True)
    ids = set(chosen["family_id"].astype(str))
    simulated = simulate_photos(families.photos, seed=seed + 1, noise=NoiseModel())
    return HeldOut(
        table=chosen,
        planned=[(i, p) for i, p in enumerate(families.photos) if p.family_id in ids],
        simulated={fid: photos for fid, photos in simulated.items() if fid in ids},
        n=n,
        seed=seed,
    )
