"""p508: the evaluation report and the model card say how the figures are measured: room
macro-F1 averages only the classes among the photos' true labels (naming those left out), and
ECE is top-label while condition accuracy and MAE are on the median grade."""

from __future__ import annotations

import re

import pytest

from shanyraq.manifest import read_manifest
from training.evaluate import evaluate
from training.model_card import model_card
from training.report import write_report

from .fixed_model import fixed_predictor


@pytest.fixture(scope="module")
def measured(toy_manifest, taxonomy):
    """(artifact, metrics, rooms absent from the test photos, from the held-out-style ones):
    the fixed predictor (always room 0) on the toy test split, the val split standing in for
    the held-out-style photos."""
    manifest = read_manifest(toy_manifest)
    test, held = manifest.by_split("test"), manifest.by_split("val")
    artifact, predict = fixed_predictor(taxonomy, sign_logit=0.0)
    metrics = evaluate(predict, artifact, root=manifest.root, test_rows=test, taxonomy=taxonomy,
                       held_out_style_rows=held, with_robustness=False)  # fmt: skip

    def absent(rows) -> list[str]:
        labelled = {r.room for r in rows}
        return [name for name in taxonomy.room_names if name not in labelled]

    absent_test, absent_held = absent(test), absent(held)
    # The toy split must leave some class out and keep some in, or the test proves nothing.
    assert 0 < len(absent_test) < len(taxonomy.room_names)
    return artifact, metrics, absent_test, absent_held


def _note(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("Room macro-F1 averages"))


def _named(note: str) -> dict[str, set[str]]:
    """The classes the note names as left out, per set of photos ("evaluated", ...)."""
    left = note.split("left out here: ", 1)[1].rstrip(".")
    found = re.findall(r"([^;]+?) \(in no ([\w-]+) photo\)", left)
    return {what: {name.strip() for name in names.split(",")} for names, what in found}


def _check_room_note(text: str, absent_test: list[str], absent_held: list[str]) -> None:
    note = _note(text)
    assert "true labels only" in note
    assert "counts only through the recall" in note
    named = _named(note)
    assert named["evaluated"] == set(absent_test)
    if absent_held:
        assert named["held-out-style"] == set(absent_held)


def _check_ece_sentence(text: str) -> None:
    assert "ECE is top-label for room and condition" in text
    assert "median grade" in text
    assert "is not the reported condition accuracy" in text


def test_report_says_how_macro_f1_and_ece_are_measured(measured, tmp_path):
    artifact, metrics, absent_test, absent_held = measured
    text = write_report(tmp_path / "ev", metrics, artifact=artifact).read_text()
    _check_room_note(text, absent_test, absent_held)
    # Next to the figure: right under the targets table, before the Room section.
    assert text.index("| room macro-F1 |") < text.index("Room macro-F1 averages")
    assert text.index("Room macro-F1 averages") < text.index("## Room")
    calibration = text[text.index("## Calibration") :]
    _check_ece_sentence(calibration)


def test_model_card_says_how_macro_f1_and_ece_are_measured(measured):
    artifact, metrics, absent_test, absent_held = measured
    card = model_card(artifact, metrics, recipe=None)
    _check_room_note(card, absent_test, absent_held)
    _check_ece_sentence(card)


def test_no_class_is_named_when_every_class_is_absent(measured):
    # No labelled room at all: macro-F1 is n/a with its reason; listing every class adds nothing.
    artifact, metrics, _, _ = measured
    room = metrics["test"]["room"]
    empty = {**room, "per_class_recall": dict.fromkeys(room["per_class_recall"], float("nan"))}
    metrics = {**metrics, "test": {**metrics["test"], "room": empty}}
    metrics.pop("held_out_style")
    note = _note(model_card(artifact, metrics, recipe=None))
    assert "left out here" not in note
