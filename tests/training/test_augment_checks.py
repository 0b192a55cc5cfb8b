"""SomeOf's `n` is checked when the pipeline is built, and the recorded pipeline sha256 covers
the code's seeding scheme (training.augment.SEEDING_SCHEME), which a resume then compares."""

from __future__ import annotations

import warnings

import pytest

import training.augment
from shanyraq.errors import ConfigError
from tests.training.resume_helpers import resume_refusal, saved_identity
from training.augment import build_pipeline
from training.run_folder import augmentation_record

_SOME_OF = (
    "name: t\ntransforms:\n  - name: SomeOf\n    params: {{n: {n}, p: 1{extra}}}\n"
    "    transforms:\n      - name: MotionBlur\n      - name: GaussianBlur\n"
)

# What `light` and `phone` recorded (run.json, model.json, last.pt) before the seeding scheme
# was part of the record: under the first scheme their checkpoints must still resume.
RECORDED_BEFORE = {
    "light": "b72c99df3e7653be6c5b1372e73e80c9dda9c0c5eb9f454080edc3bf2ee1463e",
    "phone": "568b2a7ae4e971204362900a7d145066c9aac2e463406488cb45dc04bc08ebaa",
}


def test_some_of_with_n_above_its_children_is_refused_naming_file_and_numbers(configs):
    path = configs(_SOME_OF.format(n=3, extra=""))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused, not cut with a warning
        with pytest.raises(ConfigError) as caught:
            build_pipeline("t")
    message = caught.value.message
    assert message.startswith(f"{path}: transform SomeOf: ")
    assert "'n' is 3, but it holds 2 transform(s)" in message and "\n" not in message


@pytest.mark.parametrize("n", ["0", "-1", "1.5", "'2'", "true"])  # as YAML reads them
def test_some_of_n_must_be_a_whole_number_of_at_least_one(configs, n):
    configs(_SOME_OF.format(n=n, extra=""))
    with pytest.raises(ConfigError, match=r"transform SomeOf: parameter 'n' must be a whole"):
        build_pipeline("t")


@pytest.mark.parametrize(("n", "extra"), [(2, ""), (1, ""), (3, ", replace: true")])
def test_some_of_within_its_children_or_with_repeats_builds(configs, n, extra):
    configs(_SOME_OF.format(n=n, extra=extra))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline = build_pipeline("t", seed=1)
    assert pipeline is not None and pipeline.compose.transforms[0].n == n


@pytest.mark.parametrize("name", sorted(RECORDED_BEFORE))
def test_the_first_seeding_scheme_records_what_was_recorded_before(name):
    assert training.augment.SEEDING_SCHEME == 1
    record = augmentation_record(name)
    assert record["sha256"] == RECORDED_BEFORE[name]
    assert "seeding_scheme" not in record["pipeline"]


def test_another_seeding_scheme_changes_the_recorded_sha256(monkeypatch):
    before = augmentation_record("light")
    monkeypatch.setattr(training.augment, "SEEDING_SCHEME", 2)
    after = augmentation_record("light")
    assert after["sha256"] != before["sha256"]
    assert after["pipeline"] == {**before["pipeline"], "seeding_scheme": 2}


def test_a_resume_under_another_seeding_scheme_is_refused(
    toy_manifest,
    tiny_recipe,
    run,
    monkeypatch,
):
    saved = saved_identity(run)["augmentation_sha256"]
    monkeypatch.setattr(training.augment, "SEEDING_SCHEME", 2)
    now = augmentation_record(tiny_recipe(toy_manifest, run).augment)["sha256"]
    assert now != saved
    message = resume_refusal(tiny_recipe(toy_manifest, run))
    assert "augmentation_sha256 (augmentation 'phone', " in message
    assert f"{saved} -> {now}" in message
