"""What evaluate-real checked of the engine-trained model, as the report's sentences: its training
families against those generated now (welfare.real_training.check_trained_families) and the
settings its photo scores were made with against those scoring the photos here
(`check_scoring`): what was not checked, and the differences it was compared despite."""

from __future__ import annotations

from typing import Any

UNCHECKED_FAMILIES = (
    "Its training families were NOT checked against the families generated now (it records "
    "no hash of them, or real_scores.json was measured before evaluate-real checked it), so it "
    "may have learned another configuration's records and labels than the models beside it; "
    "one trained again with `shanyraq welfare train-engine` is checked."
)
UNCHECKED_SCORING = (
    "The settings its training photos were scored with were NOT compared with those scoring "
    "the photos here (it records none, or real_scores.json was measured before evaluate-real "
    "compared them), so it may have learned scores made with other abstain thresholds, quality "
    "gate, decode side, graph or precision than those it reads here; one trained again with "
    "`shanyraq welfare train-engine` is compared."
)


def engine_checks(real: dict[str, Any]) -> list[str]:
    """Sentences on what was not checked of the engine-trained model, and on the scoring
    differences that were only stated (those changing what a score means are refused)."""
    lines = [] if real.get("engine_families_checked") is True else [UNCHECKED_FAMILIES]
    differences = real.get("engine_scoring_differences")
    if differences is None:  # a model or a file from before the check
        return [*lines, UNCHECKED_SCORING]
    if differences:
        lines.append(
            "The photos here were scored otherwise than those it was trained on, though only "
            f"in how the same scores are rounded: {'; '.join(differences)}. Scores move in their "
            "last digits (a photo on an abstain threshold may cross it), so its figures may "
            "differ slightly from those with the scoring it learned from."
        )
    return lines
