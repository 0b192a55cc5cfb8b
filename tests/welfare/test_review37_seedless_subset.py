"""An engine model whose record names a subset of training families but no seed it was drawn
with is refused as a damaged record; every record train-engine writes itself still loads.

Before, a record of `train_families 500` (or 6) with no `subset_seed` was read as "every family
of the training split": a model trained on some other number of families passed the load and
was checked against the whole split's families, refused (if at all) as configs changed since.
A subset is rebuilt only with its seed, so a count other than the split's size without one
cannot be drawn again to check the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.damaged_meta_helpers import edited, loaded
from tests.welfare.engine_command_helpers import run_train_engine
from tests.welfare.engine_study_helpers import SEED, SIZE, N
from tests.welfare.named_command_helpers import named_args, option
from welfare.dataset import split_sizes
from welfare.real_families import generate
from welfare.real_training import ENGINE_MODEL, check_trained_families, load_engine_trained

# Each test runs from its own tmp_path: a command's default --cache lands there.
pytestmark = pytest.mark.usefixtures("in_tmp")


@pytest.fixture(scope="module")
def generated(config):
    return generate(N, seed=SEED, config=config)


def available(config) -> int:
    return split_sizes(N, test_fraction=config.fusion.test_fraction)[0]


def without_seed(engine_model: Path, tmp_path: Path, families: int) -> Path:
    """A copy of the engine model recording `families` training families and no subset seed."""
    return edited(engine_model, tmp_path, train_families=families, subset_seed=None)


def refusal_of(call: Callable[[], object]) -> str:
    with pytest.raises(ModelMismatchError) as caught:
        call()
    return str(caught.value)


def told_args(text: str) -> list[str]:
    """The arguments of the train-engine command `text` tells, checked to keep the data and to
    draw no subset: train-engine trains on every family of the training split then."""
    args = named_args(text, "train-engine")
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), text
    assert "--families" not in args and "--subset-seed" not in args, text
    return args


def assert_refused_as_seedless(text: str, folder: Path, families: int, config) -> None:
    assert "a damaged record" in text and "changed since" not in text, text
    assert "asked for" not in text, text
    assert f"train_families {families}, subset_seed null" in text, text  # what the record holds
    assert "no subset_seed" in text and f"holds {available(config)}" in text, text
    assert option(told_args(text), "--out") == str(folder), text


SEEDLESS = [6, 500]  # fewer than the training split of 36 holds, and more


@pytest.mark.parametrize("families", SEEDLESS)
def test_a_subset_recorded_without_its_seed_is_refused_as_damaged_on_load(
    engine_model, tmp_path, config, families
):
    folder = without_seed(engine_model, tmp_path, families)
    assert_refused_as_seedless(refusal_of(lambda: loaded(folder, config)), folder, families, config)


@pytest.mark.parametrize("families", SEEDLESS)
def test_a_subset_recorded_without_its_seed_is_refused_as_damaged_by_the_families_check(
    engine_model, tmp_path, config, generated, families
):
    folder = without_seed(engine_model, tmp_path, families)
    # Loaded intact, then given the folder's record: the families check meets it on its own.
    model = load_engine_trained(edited(engine_model, tmp_path / "intact"), n=N, seed=SEED)
    model.meta.metrics["data"] = json.loads((folder / "fusion.json").read_text())["metrics"]["data"]
    text = refusal_of(
        lambda: check_trained_families(model, folder=folder, generated=generated, config=config)
    )
    assert_refused_as_seedless(text, folder, families, config)


def test_the_whole_split_recorded_without_a_seed_is_still_checked(
    engine_model, tmp_path, config, generated
):
    """As many as the split holds needs no seed: drawn whole and checked (this model learned
    from 6 of them, so their hash differs), not refused as damaged."""
    folder = without_seed(engine_model, tmp_path, available(config))
    model = loaded(folder, config)
    text = refusal_of(
        lambda: check_trained_families(model, folder=folder, generated=generated, config=config)
    )
    assert "changed since" in text and "damaged" not in text, text


@pytest.mark.parametrize(
    "families", [None, 6, 36], ids=["every family", "a subset", "as many as the split holds"]
)
def test_every_record_train_engine_writes_loads_and_is_checked(
    tmp_path, config, vision_dir, generated, monkeypatch, families
):
    """Trained as the command trains it, with and without --families: loaded as evaluate-real
    loads it, and its training families drawn again to the hash it recorded."""
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: config)
    folder = tmp_path / ENGINE_MODEL
    args = ["--out", str(folder), "--vision", str(vision_dir), "--size", str(SIZE)]
    args += [*(["--families", str(families), "--subset-seed", "3"] if families else [])]
    run_train_engine([*args, "--keep-meaningless"])
    model = loaded(folder, config)
    data = model.meta.metrics["data"]
    whole = families in (None, available(config))
    assert data["train_families"] == (families or available(config)), data
    assert data["subset_seed"] == (None if whole else 3), data
    assert check_trained_families(model, folder=folder, generated=generated, config=config)
