"""The notes `shanyraq welfare evaluate` puts in the report: what its data are and how the
models and reasons work (split from welfare/cli.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from welfare.simulate import NoiseModel


def data_note(noise: NoiseModel) -> str:
    """What the report's data are: synthetic families, photo scores simulated with `noise`."""
    from welfare.report import share

    return (
        "Families come from `training.synth.families.generate_families`. Their photos are **not "
        "rendered or scored by the vision model**: each planned photo's PhotoScore is simulated "
        f"from its true labels by `welfare/simulate.py` (room confusion "
        f"{share(1 - noise.room_accuracy)}, the condition's centre off by one grade "
        f"{share(noise.condition_off_by_one)} of the time with Gaussian spread and calibration "
        f"noise, signs drawn as missed {share(noise.sign_miss)} and as falsely seen "
        f"{share(noise.sign_false_alarm)} of the time, {share(noise.low_confidence_rate)} "
        "low-confidence abstentions: the odds of the draws; how often the scores then show a "
        "wrong grade or sign is measured in welfare/simulate.py's docstring; blurred, dark or "
        "overexposed photos fail quality, not-a-home photos pass it and are left to the room "
        "head and the engine's abstain rule; each family draws from its own random stream). "
        "The figures below "
        "therefore say how fusion performs *if* the vision model errs as simulated; the section "
        "'With photos scored by the vision model' re-measures them with real engine scores."
    )


def notes(*, calibration_fraction: float) -> list[str]:
    """The report's notes and limits; `calibration_fraction` is the evaluated models' recipe's."""
    from welfare.report import share

    return [
        "- Models are trained by `shanyraq welfare train` on the training split (recipe in "
        "configs/welfare.yaml `fusion`: families, seed, hyper-parameters); "
        f"{share(calibration_fraction)} of it calibrates the probabilities (a temperature for "
        "the level, Platt scaling for ASP). `evaluate` regenerates the same families and "
        "refuses a model whose training-data hash differs.",
        "- In the synthetic data ASP eligibility is the generator's: *declared* per-capita "
        "income under the poverty line. Hidden income therefore shows in the level, not in the "
        "ASP label; the recommendation sends a family that is eligible by declared income but "
        "placed at a high level, or holds deposits and large purchases worth many years of its "
        "subsistence minimum, to review, never to not_eligible.",
        "- The other way round, a family above the poverty line that the model places at level "
        "1-2, or finds at level 1-2 with a probability at or above the configured cut, goes to "
        "review, as does a record with more criteria missing than the training data has "
        "examples of (configs/welfare.yaml `recommendation`: each threshold and how it was "
        "measured on validation families).",
        "- Reasons are measured, not modelled: a reason's weight is what resetting that fact "
        "alone to the training families' median does to the calibrated probability of the "
        "outcome (welfare/explain.py).",
        "- The level-6 rule (the published criteria, combined as configs/welfare.yaml "
        "`rules.level6.combine` says) overrides the model's level; every rule that fired is "
        "listed in each Assessment.",
        "- LightGBM models predict the level with the recipe's `level_objective` (cumulative: "
        'one booster per question "is the family above level k?"), on the 23 criteria plus '
        "derived figures (money in subsistence minimums, asset and hidden-income tallies, photo "
        "evidence pooled by what signs point to); the recipe was chosen on validation families "
        "(another seed), never on the test split.",
        "- Region and head-of-family gender are never model features; they are used only here.",
        "- Nothing here decides: each recommendation is advisory and every doubt gives "
        "needs_review.",
    ]
