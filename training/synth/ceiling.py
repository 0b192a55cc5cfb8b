"""How well a perfect photo reader could grade condition on the synthetic data.

The generator grades a photo by a written rule from its drawn signs and wear plus noise
(training/synth/spec.py, `condition` in configs/synth.yaml). A reader that sees the signs and
the wear exactly still meets that noise, so its QWK is the most a model trained and tested on
this data can reach; a reader that sees the wear with an error shows how precisely a model
must judge wear to reach a given QWK. Computed from labels alone, in about a second.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel
from sklearn.metrics import cohen_kappa_score

from shanyraq.errors import ConfigError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from training.synth.config import SynthConfig, get_synth_config
from training.synth.spec import condition_from, sample_spec

WEAR_ERRORS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)


class ConditionCeiling(BaseModel):
    """QWK of readers that see the signs exactly and the wear with an error of sd `wear_sd`."""

    n_photos: int
    seed: int
    exact_accuracy: float  # the exact reader's share of grades right
    qwk: dict[str, float]  # wear error sd (on the 0..1 wear scale) -> QWK

    def wear_sd_for(self, target: float) -> float | None:
        """The largest measured wear error that still reaches `target` QWK (None: none does)."""
        reaching = [float(sd) for sd, qwk in self.qwk.items() if qwk >= target]
        return max(reaching) if reaching else None


def graded_rooms(config: SynthConfig, taxonomy: Taxonomy) -> tuple[list[str], np.ndarray]:
    """The dwelling rooms `config` draws and their weights; refused (ConfigError) when it draws
    none, for only dwelling photos have a grade."""
    rooms = sorted(r for r in config.photos.room_weights if r != taxonomy.not_dwelling)
    weights = np.array([config.photos.room_weights[r] for r in rooms], np.float64)
    if not weights.sum() > 0:  # only not_dwelling photos are drawn: none has a grade
        raise ConfigError(
            "photos.room_weights: the condition ceiling grades dwelling photos, but every "
            f"dwelling room ({', '.join(rooms) or 'none'}) has weight 0; give one a weight "
            "above 0 in the synth config (configs/synth.yaml)"
        )
    return rooms, weights


def condition_ceiling(
    *,
    n: int = 20_000,
    seed: int = 0,
    wear_errors: tuple[float, ...] = WEAR_ERRORS,
    config: SynthConfig | None = None,
    taxonomy: Taxonomy | None = None,
) -> ConditionCeiling:
    """Sample `n` photos' labels as the generator does and grade them as perfect readers would.

    Only dwelling photos have a grade: a config that draws none is refused (ConfigError).
    """
    config = config or get_synth_config()
    taxonomy = taxonomy or get_taxonomy()
    rng = np.random.default_rng([seed, 0xCE11])
    rooms, weights = graded_rooms(config, taxonomy)
    specs = [
        sample_spec(
            config, taxonomy, rng,
            room=rooms[int(rng.choice(len(rooms), p=weights / weights.sum()))],
            style=0, welfare=float(rng.uniform(0.0, 1.0)),
        )
        for _ in range(n)
    ]  # fmt: skip
    truth = np.array([s.condition for s in specs])

    def read(sd: float) -> np.ndarray:
        errors = rng.normal(0.0, sd, size=n) if sd > 0 else np.zeros(n)
        return np.array(
            [
                condition_from(config, s.signs, float(np.clip(s.wear + e, 0.0, 1.0)), 0.0, taxonomy)
                for s, e in zip(specs, errors, strict=True)
            ]
        )

    exact = read(0.0)
    qwk = {  # the exact reader ("0") always: the report quotes it as the ceiling
        f"{sd:g}": float(
            cohen_kappa_score(truth, exact if sd == 0 else read(sd), weights="quadratic")
        )
        for sd in sorted({0.0, *wear_errors})
    }
    return ConditionCeiling(
        n_photos=n, seed=seed, exact_accuracy=float((exact == truth).mean()), qwk=qwk
    )
