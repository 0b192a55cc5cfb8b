"""An engine model whose record names more training families than its data's training split
holds is refused as a damaged record, and the command it is told trains it again as it runs.

Before, a record of `train_families 500` (subset seed 3) on data whose training split holds 36
passed as a subset and reached the family count check, which told the reader that they "asked
for" 500 families and to pass --families (on evaluate-real, the number of test families); the
command to train it again repeated `--families 500`, which train-engine refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.damaged_meta_helpers import edited, loaded
from tests.welfare.engine_study_helpers import SEED, N
from tests.welfare.named_command_helpers import named_args, option
from welfare.dataset import split_sizes
from welfare.real_families import generate
from welfare.real_training import check_trained_families, load_engine_trained, training_families

TOO_MANY = 500


@pytest.fixture(scope="module")
def generated(config):
    return generate(N, seed=SEED, config=config)


def told_command_draws(text: str, config, generated) -> int:
    """How many training families the train-engine command `text` tells draws, as train-engine
    draws them (refused as it would refuse them); the command is checked to keep the data."""
    args = named_args(text, "train-engine")
    assert (option(args, "--n"), option(args, "--seed")) == (str(N), str(SEED)), text
    families = int(option(args, "--families")) if "--families" in args else None
    subset_seed = int(option(args, "--subset-seed")) if "--subset-seed" in args else 0
    held = training_families(
        families, n=N, seed=SEED, subset_seed=subset_seed, config=config, generated=generated
    )
    return len(held.table)


def assert_refused_as_damaged(text: str, folder: Path, config, generated) -> None:
    available = split_sizes(N, test_fraction=config.fusion.test_fraction)[0]
    assert "a damaged record" in text and "asked for" not in text, text
    assert f"train_families {TOO_MANY}, subset_seed 3" in text, text  # what the record holds
    assert f"({N} families, seed {SEED}) holds only {available}" in text, text
    assert option(named_args(text, "train-engine"), "--out") == str(folder), text
    assert told_command_draws(text, config, generated) == available, text


def test_a_subset_larger_than_the_training_split_is_refused_as_damaged_by_the_families_check(
    engine_model, tmp_path, config, generated
):
    folder = edited(engine_model, tmp_path, train_families=TOO_MANY)
    model = load_engine_trained(edited(engine_model, tmp_path / "intact"), n=N, seed=SEED)
    model.meta.metrics["data"] = json.loads((folder / "fusion.json").read_text())["metrics"]["data"]
    with pytest.raises(ModelMismatchError) as caught:
        check_trained_families(model, folder=folder, generated=generated, config=config)
    assert_refused_as_damaged(str(caught.value), folder, config, generated)


def test_a_subset_larger_than_the_training_split_is_refused_as_damaged_on_load(
    engine_model, tmp_path, config, generated
):
    """Refused before any family is generated."""
    folder = edited(engine_model, tmp_path, train_families=TOO_MANY)
    with pytest.raises(ModelMismatchError) as caught:
        loaded(folder, config)
    assert_refused_as_damaged(str(caught.value), folder, config, generated)


def test_a_subset_of_the_whole_training_split_is_still_checked(
    engine_model, tmp_path, config, generated
):
    """As many as the split holds is no subset at all, not damage: drawn and checked as is."""
    available = split_sizes(N, test_fraction=config.fusion.test_fraction)[0]
    folder = edited(engine_model, tmp_path, train_families=available)
    model = loaded(folder, config)
    with pytest.raises(ModelMismatchError) as caught:  # other families than its 6: other hash
        check_trained_families(model, folder=folder, generated=generated, config=config)
    assert "changed since" in str(caught.value) and "damaged" not in str(caught.value)
