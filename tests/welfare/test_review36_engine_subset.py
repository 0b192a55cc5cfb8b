"""Training families for the engine-trained model: asking for more than the split holds is told
plainly (how many were asked for, how many the split holds, what to pass instead), and the
report says how many it was trained on only as its measurements recorded it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.refusals import error_code, must_not_run
from tests.welfare.real_report_helpers import real_result
from welfare.cli import app
from welfare.dataset import split_sizes
from welfare.real_report import engine_trained_verdict

runner = CliRunner()


def test_train_engine_says_how_many_were_asked_for_and_how_many_the_split_holds(
    tmp_path, monkeypatch, welfare_config
):
    """Before: "asked for 500 training families, but the data the models were trained on (48
    families, seed 5) holds 36 in its training split; ask for 1 to 36", naming no option."""
    monkeypatch.setattr("welfare.real_training.study_engine", must_not_run("the vision engine"))
    result = runner.invoke(
        app,
        [
            "train-engine", "--families", "500", "--n", "48", "--seed", "5", "--keep-meaningless",
            "--out", str(tmp_path / "engine"), "--vision", str(tmp_path / "no-model"),
        ],
    )  # fmt: skip
    assert error_code(result.exception) == "family_count_invalid", result.output
    message = result.exception.message
    train = split_sizes(48, test_fraction=welfare_config.fusion.test_fraction)[0]
    assert message.startswith("500 training families asked for (--families), but "), message
    assert f"training split of data (48 families, seed 5) holds only {train}:" in message
    assert f"pass --families {train} or fewer, or leave --families out" in message
    assert not (tmp_path / "engine").exists()


def test_evaluate_real_says_how_many_test_families_the_split_holds(welfare_config):
    from welfare.real_families import held_out_families

    test = split_sizes(48, test_fraction=welfare_config.fusion.test_fraction)[1]
    with pytest.raises(Exception) as refused:
        held_out_families(400, n=48, seed=5, config=welfare_config)
    message = refused.value.message
    assert message.startswith("400 test families asked for (--families), but "), message
    assert f"(48 families, seed 5) holds only {test}: pass --families {test} or fewer" in message


def _trained_on(engine_training: dict) -> str:
    from welfare.criteria import get_welfare_config

    real = real_result(engine_training=engine_training)
    return " ".join(engine_trained_verdict(real, targets=get_welfare_config().targets))


def test_a_measurement_without_the_family_count_says_it_was_not_recorded():
    """Before: "0 training-split families, all of them" for a file recording neither."""
    text = _trained_on({})
    assert "(training-split families, how many not recorded, nor whether all or a subset" in text
    assert "0 training-split" not in text and "all of them" not in text


@pytest.mark.parametrize(
    ("recorded", "words"),
    [
        ({"train_families": 15000, "subset_seed": None}, "15,000 training-split families, all"),
        ({"train_families": 6, "subset_seed": 3}, "6 training-split families, a subset drawn"),
        # Without a subset seed recorded, the split's size tells whether it was a subset.
        ({"train_families": 36, "n": 48, "test_fraction": 0.25}, "36 training-split families, all"),
        ({"train_families": 6, "n": 48, "test_fraction": 0.25}, "6 training-split families, a "
         "subset (its seed not recorded)"),
        ({"train_families": 6}, "6 training-split families, not recorded whether all or a "
         "subset"),
    ],
)  # fmt: skip
def test_the_report_says_what_was_recorded_of_the_training_families(recorded, words):
    assert f"({words}" in _trained_on(recorded)
