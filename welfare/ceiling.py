"""Ceiling of level accuracy: how much of the error is the data's own noise, not the model's.

Two readings of the same synthetic families are compared at growing training sizes: photo
scores simulated as the engine errs (welfare.simulate), and noise-free scores (a perfect
photo reader that reports each photo's true room, grade and signs). Whatever the perfect
reader still gets wrong comes from the generator itself (photos are a noisy view of the
home, income a noisy view of the level), so no model can close it. Test families are held
out of the n generated as the recipe holds out its test split (its test fraction and seed);
with another n than the recipe's they are not the families `welfare evaluate` scores (a
family's record is the same for any n, the permutation is not). Nothing here is tuned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from welfare.criteria import WelfareConfig
from welfare.dataset import split_indices, split_sizes, synthetic_family_data
from welfare.evaluation import outcomes
from welfare.fusion import FamilyCountError, check_trainable
from welfare.simulate import NoiseModel
from welfare.train import fit_on

log = logging.getLogger(__name__)

PERFECT_READER = NoiseModel(
    room_accuracy=1.0,
    room_top_low=0.99,
    room_top_high=0.99,
    condition_off_by_one=0.0,
    condition_jitter=0.0,
    condition_width_low=0.05,
    condition_width_high=0.05,
    sign_miss=0.0,
    sign_false_alarm=0.0,
    low_confidence_rate=0.0,
)
READINGS = {"simulated photo scores": NoiseModel(), "noise-free photo scores": PERFECT_READER}


def measure_ceiling(
    *, n: int, seed: int, sizes: Sequence[int], config: WelfareConfig
) -> dict[str, Any]:
    """Test level accuracy of the default model per photo reading and training size.

    Sizes larger than the training split are skipped (with a warning); a size too small to
    fit the model, or none that fits the split, is refused before any family is generated.
    """
    name = config.fusion.default_model
    check_sizes(sizes, n=n, name=name, config=config)
    rows = []
    for reading, noise in READINGS.items():
        data = synthetic_family_data(n, seed=seed, noise=noise, config=config)
        train_idx, test_idx = split_indices(
            len(data), test_fraction=config.fusion.test_fraction, seed=seed
        )
        train, test = data.subset(train_idx), data.subset(test_idx)
        for size in sizes:
            if size > len(train):
                log.warning("skipping %d training families: only %d", size, len(train))
                continue
            model = fit_on(
                train.subset(range(size)), name, config=config, seed=seed, source={"n": n}
            )
            frame = outcomes(model, test, config=config)
            accuracy = float(np.mean(frame["level"] == frame["level_pred"]))
            log.info("%s, %d families: accuracy %.4f", reading, size, accuracy)
            rows.append({"reading": reading, "n_train": size, "accuracy": accuracy})
    return {
        "model": name,
        "n_families": n,
        "seed": seed,
        "n_test": len(test_idx),
        "rows": rows,
        # The configuration the figures were measured with (targets aside: they judge, not make,
        # them), so a report can tell a ceiling measured under other rules or features.
        "welfare_config_measured_sha256": config.measured_digest(),
    }


def check_sizes(sizes: Sequence[int], *, n: int, name: str, config: WelfareConfig) -> None:
    """Refuse training sizes the model cannot be fitted on, or a split none of them fits."""
    if sizes:
        check_trainable(name, min(sizes), config.fusion)
    n_train = split_sizes(n, test_fraction=config.fusion.test_fraction)[0] if n > 0 else 0
    if not any(s <= n_train for s in sizes):
        raise FamilyCountError(
            f"no training size fits: {n} families leave {max(n_train, 0)} for training "
            f"({config.fusion.test_fraction:.0%} are held out for testing), fewer than every "
            f"--size ({', '.join(map(str, sorted(set(sizes))))}); give a larger --n or a smaller "
            "--size"
        )
