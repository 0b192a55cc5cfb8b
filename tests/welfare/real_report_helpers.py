"""A real-scores result written by hand, as `welfare evaluate-real` records it: four arms of
the same figures, the hidden-income differences, and any more keys, for the report's verdicts."""

from __future__ import annotations

FUSED, TABULAR, SIMULATED, TRAINED = "f | engine", "t | engine", "f | simulated", "e | engine"


def exact_figure(value: float | None) -> dict[str, float | None]:
    """A figure whose interval is the value itself."""
    return {"value": value, "ci_low": value, "ci_high": value}


def _arm(*, exclusion: float | None = 0.05, review: float | None = 0.1) -> dict[str, dict]:
    return {
        "accuracy": exact_figure(0.8),
        "exclusion_error": exact_figure(exclusion),
        "needs_review_rate": exact_figure(review),
    }


def real_result(
    *, hidden: float | None = 0.1, exclusion: float | None = 0.05, n_eligible: int = 40, **extra
):
    """A result of 100 test families, `n_eligible` of them eligible: every arm with the figures
    given, the fused and engine-trained arms each `hidden` better on hidden income (None: no
    such difference), and `extra` keys."""
    arms = {k: _arm(exclusion=exclusion) for k in (FUSED, TABULAR, SIMULATED, TRAINED)}
    difference = {"metric": "accuracy", "value": hidden, "ci_low": hidden, "ci_high": hidden}
    hidden_differences = [
        {"a": a, "b": TABULAR, **difference} for a in (FUSED, TRAINED) if hidden is not None
    ]
    return {
        "fused": "f",
        "tabular": "t",
        "engine_trained": "e",
        "engine_training": {"train_families": 10},
        "reuse": "full hash",
        "n_hidden_income": 30,
        "overall": {"arms": arms, "differences": [], "n_eligible": n_eligible, "n": 100},
        "hidden_income": {"differences": hidden_differences},
        "review_doubts": {"engine": {"too few usable photos": 0, "rules and model disagree": 0}},
        **extra,
    }
