"""The perfect reader's condition QWK on the synthetic data, and where the report shows it."""

from __future__ import annotations

from training.recipe import QualityTargets
from training.report import ceiling_lines
from training.synth.ceiling import condition_ceiling
from training.synth.config import get_synth_config


def test_without_the_generators_noise_a_perfect_reader_is_perfect(taxonomy):
    config = get_synth_config()
    quiet = config.model_copy(
        update={"condition": config.condition.model_copy(update={"noise_sd": 0.0})}
    )
    ceiling = condition_ceiling(n=2000, seed=1, wear_errors=(0.0, 0.2), config=quiet)
    assert ceiling.qwk["0"] == 1.0 and ceiling.exact_accuracy == 1.0
    assert ceiling.qwk["0.2"] < 0.97  # misreading wear costs grades even without noise
    # The exact reader is measured even when the errors asked for leave it out.
    assert list(condition_ceiling(n=200, seed=1, wear_errors=(0.1,), config=quiet).qwk) == [
        "0",
        "0.1",
    ]


def test_the_generators_noise_caps_qwk_and_a_worse_wear_reader_scores_lower(taxonomy):
    ceiling = condition_ceiling(n=4000, seed=0, wear_errors=(0.0, 0.1, 0.2, 0.3))
    values = list(ceiling.qwk.values())
    assert 0.9 < values[0] < 0.99 and 0.7 < ceiling.exact_accuracy < 0.95
    assert values == sorted(values, reverse=True)
    assert ceiling.wear_sd_for(values[1]) == 0.1 and ceiling.wear_sd_for(0.999) is None
    assert condition_ceiling(n=500, seed=3) == condition_ceiling(n=500, seed=3)  # seeded


def test_report_states_the_ceiling_beside_the_target():
    ceiling = condition_ceiling(n=1000, seed=0, wear_errors=(0.0, 0.1, 0.3))
    lines = ceiling_lines({"data": {"condition_ceiling": ceiling.model_dump()}}, QualityTargets())
    text = " ".join(lines)
    assert f"QWK {ceiling.qwk['0']:.3f}" in text and "0.3 -> " in text
    assert ceiling_lines({"data": {}}, QualityTargets()) == []  # not synthetic: nothing said
