"""configs/welfare.yaml edits the feature vector cannot live with are refused when it loads.

Each of these loaded before, then failed or lied per family: a family size of 0 divided by
zero, a category listed twice or a criterion named like a derived figure gave two columns of
one name (or overwrote the criterion's value), a criterion the derived figures read was a
KeyError at the first family, and settlements without `rural` made the `rural` feature 0 for all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shanyraq.errors import ConfigError
from shanyraq.taxonomy import get_taxonomy
from welfare.criteria import load_welfare_config
from welfare.features import feature_space

REAL = Path(__file__).resolve().parents[2] / "configs" / "welfare.yaml"


def _criterion(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in data["criteria"] if c["name"] == name)


def _drop(data: dict[str, Any], name: str) -> None:
    data["criteria"] = [c for c in data["criteria"] if c["name"] != name]


def _load(tmp_path: Path, change: Callable[[dict[str, Any]], object]):
    data = yaml.safe_load(REAL.read_text())
    change(data)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_welfare_config(path)


def test_the_shipped_file_gives_features_of_distinct_names(tmp_path):
    config = _load(tmp_path, lambda d: None)
    names = feature_space(config, get_taxonomy()).names(with_visual=True)
    assert len(names) == len(set(names))


def test_a_family_size_that_may_be_zero_is_refused(tmp_path):
    # Per-capita and per-member figures divide by members_total: 0 raised ZeroDivisionError.
    with pytest.raises(ConfigError, match=r"members_total: min must be at least 1"):
        _load(tmp_path, lambda d: _criterion(d, "members_total").update(min=0))


def test_a_category_listed_twice_is_refused(tmp_path):
    change = lambda d: _criterion(d, "housing_tenure").update(  # noqa: E731
        categories=["owned", "rented", "owned"]
    )
    with pytest.raises(ConfigError, match=r"housing_tenure: categories \['owned'\] are listed"):
        _load(tmp_path, change)


@pytest.mark.parametrize("name", ["working_share", "rural", "missing_criteria", "vis_rooms"])
def test_a_criterion_cannot_take_a_feature_name(tmp_path, name):
    change = lambda d: _criterion(d, "members_in_training").update(name=name)  # noqa: E731
    with pytest.raises(ConfigError, match=rf"criterion {name!r} .*rename it"):
        _load(tmp_path, change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _drop(d, "bank_deposits_kzt"), r"bank_deposits_kzt is absent"),
        (
            lambda d: _criterion(d, "foreign_trips_12m").update(kind="flag"),
            r"foreign_trips_12m .*a count criterion, not a flag",
        ),
    ],
)
def test_a_criterion_the_derived_figures_read_must_be_there(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, change)


def test_settlement_as_a_feature_needs_a_rural_settlement(tmp_path):
    change = lambda d: d.update(settlements=["city", "village"])  # noqa: E731
    with pytest.raises(ConfigError, match=r"settlements .*'rural'"):
        _load(tmp_path, change)
    # Without settlement among the features, other settlement names are fine.
    config = _load(
        tmp_path,
        lambda d: (
            d.update(settlements=["city", "village"]) or d["fusion"].update(context_features=[])
        ),
    )
    assert "rural" not in feature_space(config, get_taxonomy()).tabular
