"""Hand-made photo scores and families, what `recommend` weighs for them, and the doubts it
gives, for the assessment tests."""

from __future__ import annotations

import numpy as np

from tests.welfare.families_helpers import family
from vision.score import PhotoScore
from welfare.aggregate import aggregate
from welfare.assess import recommend
from welfare.rules import evaluate_rules
from welfare.schema import parse_family


def photo(taxonomy, room="kitchen", grade=3, sha="a") -> PhotoScore:
    rooms = {r: (0.95 if r == room else 0.01) for r in taxonomy.room_names}
    grades = {g: (0.9 if g == grade else 0.025) for g in taxonomy.condition_values}
    return PhotoScore(
        sha, "vision-1", rooms, grades, dict.fromkeys(taxonomy.sign_names, 0.05), np.zeros(0)
    )


def inputs(config, taxonomy, p, *, photos=1, flags=None, **criteria):
    """What `recommend` weighs for a hand-made family with `photos` kitchen photos."""
    record = parse_family(family(config, **criteria), config=config)
    scores = [photo(taxonomy, sha=str(i)) for i in range(photos)]
    return {
        "asp_probability": p,
        "rules": evaluate_rules(record, rules=config.rules, thresholds=config.thresholds),
        "visual": aggregate(scores, flags=flags, expected_rooms=["kitchen"], taxonomy=taxonomy),
        "missing": record.missing,
        "config": config.recommendation,
    }


def doubts_of(config, taxonomy, p, **kwargs):
    return recommend(**inputs(config, taxonomy, p, **kwargs))
