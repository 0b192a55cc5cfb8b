"""Review 22: the model card and the evaluation report claim held-out families only as far as
the evaluation verified it: overlap found -> how many and inflated; not checked -> said so,
loudly, and more so for a train or val split; checked and none found, or a build's own test
split -> the claim."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shanyraq.manifest import read_manifest
from tests.training.evaluation_helpers import toy_evaluation
from tests.training.overlap_helpers import another_photo, untrained_artifact
from training.leak_guard import check_overlap
from training.model_card import model_card
from training.report_warnings import overlap_lines

NEVER_SEEN = "families never seen in training"


@pytest.fixture(scope="module")
def measured(toy_manifest, taxonomy):
    return toy_evaluation(toy_manifest, taxonomy)


@pytest.fixture
def guarded(toy_manifest, tmp_path, tiny_recipe, taxonomy):
    """An artifact whose recipe trained on the toy manifest (nothing trained) and the toy rows."""
    return untrained_artifact(toy_manifest, tmp_path, tiny_recipe, taxonomy), read_manifest(
        toy_manifest
    )


def _card(measured, **data) -> tuple[str, dict]:
    artifact, metrics = measured
    data = {"manifest": "data/manifest.csv", "manifest_sha256": "ab" * 32,
            "evaluated_split": "test", "held_out_styles": [2], **data}  # fmt: skip
    metrics = {**metrics, "data": data}
    return model_card(artifact, metrics, recipe=None), metrics


def _line(card: str, start: str) -> str:
    return next(line for line in card.splitlines() if line.startswith(start))


def test_overlap_found_says_how_many_and_inflated_not_never_seen(measured, guarded):
    artifact, manifest = guarded
    trained = next(r for r in manifest.by_split("train") if r.family_id == "fam01")
    new = [another_photo(manifest.rows, f, n) for n, f in enumerate(("fam01", "fam06", "fam01"))]
    rows = [*manifest.by_split("test"), replace(trained, split="test"), *new]
    found = check_overlap(artifact, rows, allow_overlap=True)
    assert (found["overlap_with_training"], found["family_overlap_with_training"]) == (1, 3)
    card, _ = _card(measured, **found)
    data = _line(card, "- Manifest")
    assert NEVER_SEEN not in card, data
    assert "NOT all held out: 1 evaluated photos are photos the model was trained or " in data
    assert "and 3 are other photos of 2 families it was trained" in data
    assert "inflated" in data
    assert "never trained or validated on" not in _line(card, "- Held-out visual styles")


@pytest.mark.parametrize("split", ["val", "train", "all"])
def test_unknown_training_photos_on_a_train_or_val_split_warn_loudly(measured, guarded, split):
    artifact, manifest = guarded
    found = check_overlap(artifact.model_copy(update={"training_config": {}}), manifest.rows)
    assert found["training_photos_known"] is False
    card, metrics = _card(measured, evaluated_split=split, **found)
    warning = overlap_lines(metrics)[0]
    assert warning.startswith("> **WARNING: Not checked against the model's training photos**")
    assert "the model records no training recipe" in warning
    assert f"These are the manifest's {split} photos" in warning and "inflated" in warning
    assert warning in card
    assert NEVER_SEEN not in card
    assert "families NOT checked against the model's training photos" in _line(card, "- Manifest")
    assert "not checked" in _line(card, "- Held-out visual styles")


def test_unknown_training_photos_on_a_test_split_still_warn(measured, guarded):
    artifact, manifest = guarded
    found = check_overlap(artifact.model_copy(update={"training_config": {}}), manifest.rows)
    card, metrics = _card(measured, **found)
    warning = overlap_lines(metrics)[0]
    assert warning.startswith("> **WARNING: Not checked")
    assert "These are the manifest's" not in warning
    assert NEVER_SEEN not in card


def test_metrics_saying_nothing_of_a_check_claim_nothing(measured):
    card, _ = _card(measured)
    assert NEVER_SEEN not in card
    assert "NOT checked" in _line(card, "- Manifest")


def test_checked_and_none_found_claims_it(measured, guarded):
    artifact, manifest = guarded
    found = check_overlap(artifact, manifest.by_split("test"))
    card, _ = _card(measured, **found)
    assert f"{NEVER_SEEN} (checked against its train, val photos)." in _line(card, "- Manifest")
    assert "never trained or validated on)." in _line(card, "- Held-out visual styles")


def test_a_builds_own_splits(measured):
    """A build's test split keeps the tracked card's wording; its validation split does not
    claim unseen families."""
    card, metrics = _card(measured, evaluated_on_validation=False)
    assert _line(card, "- Manifest").endswith(
        f"test split: {metrics['n_test_photos']} photos of {metrics['n_test_families']} "
        f"{NEVER_SEEN}."
    )
    assert _line(card, "- Held-out visual styles").endswith(
        "from every split, never trained or validated on)."
    )
    card, _ = _card(measured, evaluated_split="val", evaluated_on_validation=True)
    data = _line(card, "- Manifest")
    assert NEVER_SEEN not in data and "chose the epoch" in data and "inflated" in data


def test_the_evaluation_report_claims_what_the_card_does(measured, guarded):
    """The evaluation report said "held-out families" under the very warning that they were
    not checked; it now words them as the card does (families_claim)."""
    from training.recipe import QualityTargets
    from training.report import _report_markdown

    artifact, manifest = guarded
    found = check_overlap(artifact.model_copy(update={"training_config": {}}), manifest.rows)
    _, metrics = _card(measured, **found)
    report = _report_markdown(metrics, measured[0], QualityTargets())
    measured_line = _line(report, "Measured on")
    assert "held-out families" not in measured_line and "NOT checked" in measured_line
    _, metrics = _card(measured, evaluated_on_validation=False)
    report = _report_markdown(metrics, measured[0], QualityTargets())
    assert NEVER_SEEN in _line(report, "Measured on")
