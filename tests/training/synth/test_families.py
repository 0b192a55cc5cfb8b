"""Synthetic families: the table contract, the special cases, linkage to photos, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shanyraq.manifest import read_manifest
from shanyraq.manifest_check import check_manifest
from training.synth.config import get_synth_config
from training.synth.families import LEAD_COLUMNS, generate_families, write_families
from welfare.criteria import get_welfare_config


@pytest.fixture(scope="module")
def fams():
    return generate_families(1500, seed=4)


def test_table_has_the_contract_columns_in_order(fams):
    welfare = get_welfare_config()
    assert list(fams.table.columns) == [*LEAD_COLUMNS, *welfare.criterion_names]
    assert len(welfare.criterion_names) == 23
    assert fams.table["family_id"].is_unique
    assert set(fams.table["region"]) <= set(welfare.regions)
    assert {"karaganda_region", "shymkent"} <= set(fams.table["region"])
    assert set(fams.table["settlement"]) == {"urban", "rural"}
    assert set(fams.table["head_gender"]) == {"female", "male"}
    assert set(fams.table["latent_level"]) == set(welfare.level_values)


def test_criteria_within_their_ranges_and_some_missing_on_purpose(fams):
    welfare = get_welfare_config()
    table = fams.table
    for c in welfare.criteria:
        column = table[c.name].dropna()
        if c.kind == "category":
            assert set(column) <= set(c.categories or [])
        elif c.kind == "flag":
            assert set(column.astype(int)) <= {0, 1}
        else:
            assert column.min() >= c.min and column.max() <= c.max, c.name
    share_missing = table[welfare.criterion_names].isna().to_numpy().mean()
    rate = get_synth_config().families.missing_criterion_rate
    assert 0.3 * rate < share_missing < 2 * rate
    assert table["per_capita_income_kzt"].notna().all()


def test_asp_eligibility_follows_the_configured_poverty_line(fams):
    line = get_welfare_config().thresholds.poverty_line_kzt
    expected = fams.table["per_capita_income_kzt"] < line
    assert (fams.table["asp_eligible"] == expected).all()
    typical = fams.table[fams.table["case"] == "typical"]
    by_level = typical.groupby("latent_level")["asp_eligible"].mean()
    assert by_level[1] > 0.9 and by_level[6] < 0.05


def test_case_rates_match_the_config(fams):
    rates = get_synth_config().families.case_rates
    observed = fams.table["case"].value_counts(normalize=True)
    for case, rate in rates.items():
        assert abs(observed.get(case, 0.0) - rate) < 0.03, case


def test_special_cases_look_the_way_the_card_says(fams):
    table = fams.table.set_index("family_id")
    photos = pd.DataFrame([p.__dict__ for p in fams.photos])
    photos["case"] = table.loc[photos["family_id"], "case"].to_numpy()
    photos["level"] = table.loc[photos["family_id"], "latent_level"].to_numpy()
    hidden = table[table["case"] == "hidden_income"]
    assert hidden["latent_level"].min() >= 4 and hidden["asp_eligible"].mean() > 0.8
    rental = table[table["case"] == "poor_decent_rental"]
    assert (rental["housing_tenure"].dropna() == "rented").all()
    assert rental["latent_level"].max() <= 2
    graded = photos[photos["condition"].notna()]
    poor_typical = graded[(graded["case"] == "typical") & (graded["level"] <= 2)]
    poor_rental = graded[graded["case"] == "poor_decent_rental"]
    assert poor_rental["condition"].mean() > poor_typical["condition"].mean() + 0.7
    rural = table[table["case"] == "rural_solid_fuel"]
    assert (rural["settlement"] == "rural").all() and rural["latent_level"].min() >= 4
    stove_families = set(
        photos[photos["signs"].map(lambda s: "solid_fuel_stove" in s)]["family_id"]
    )
    assert set(rural.index) <= stove_families
    missing = table[table["case"] == "missing_photos"]
    assert missing["n_photos"].max() <= get_synth_config().families.missing_photos_count[1]


def test_photos_link_to_families_and_follow_the_level(fams, taxonomy):
    counts = pd.Series([p.family_id for p in fams.photos]).value_counts()
    table = fams.table.set_index("family_id")
    assert (counts.reindex(table.index, fill_value=0) == table["n_photos"]).all()
    typical = table[table["case"] == "typical"]
    assert typical["n_photos"].between(3, 10).all()
    level_of = table["latent_level"]
    graded = [(level_of[p.family_id], p.condition) for p in fams.photos if p.condition]
    low = np.mean([c for lv, c in graded if lv <= 2])
    high = np.mean([c for lv, c in graded if lv >= 5])
    assert high > low + 1.0
    for p in fams.photos:
        assert p.usable == (p.unusable_reason is None)
        if p.room == taxonomy.not_dwelling:
            assert p.condition is None and not p.signs and not p.usable


def test_same_seed_same_families():
    a, b = generate_families(50, seed=9), generate_families(50, seed=9)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.photos == b.photos
    assert not generate_families(50, seed=10).table.equals(a.table)


def test_write_families_renders_a_clean_linked_manifest(tmp_path, taxonomy):
    fams = generate_families(6, seed=2)
    table_path = write_families(fams, tmp_path / "a", seed=2, size=64)
    assert table_path.name == "families.csv"
    manifest = tmp_path / "a" / "manifest.csv"
    assert check_manifest(manifest, taxonomy) == []
    rows = read_manifest(manifest).rows
    assert len(rows) == len(fams.photos)
    table = pd.read_csv(table_path)
    assert {r.family_id for r in rows} <= set(table["family_id"])
    case_of = dict(zip(table["family_id"], table["case"], strict=True))
    assert all(r.extra["family_case"] == case_of[r.family_id] for r in rows)
    assert all(r.extra["usable"] in {"0", "1"} and r.extra["style"].isdigit() for r in rows)
    write_families(fams, tmp_path / "b", seed=2, size=64)
    assert manifest.read_bytes() == (tmp_path / "b" / "manifest.csv").read_bytes()
    assert table_path.read_bytes() == (tmp_path / "b" / "families.csv").read_bytes()


def test_write_families_without_pixels_writes_only_the_table(tmp_path):
    path = write_families(generate_families(5, seed=1), tmp_path, seed=1, render=False)
    assert path.exists() and not (tmp_path / "manifest.csv").exists()
    assert pd.read_csv(path).shape[0] == 5
