"""Review 16: family splits (grouping, determinism, small sets, fractions) and the taxonomy
loader (strict numbers, clear one-line keys, grade lookup, fingerprint)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from shanyraq.manifest import SPLITS, ManifestRow, write_manifest
from shanyraq.manifest_check import check_manifest
from shanyraq.splits import split_rows
from shanyraq.taxonomy import load_taxonomy
from tests.shanyraq.config_helpers import broken_taxonomy

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "configs" / "taxonomy.yaml"


def _row(family_id: str, photo: int, condition: int | None = 3) -> ManifestRow:
    name = f"{family_id.strip()}_{photo}_{len(family_id)}.jpg"
    return ManifestRow(
        name,
        hashlib.sha256(f"{family_id!r} {photo}".encode()).hexdigest(),
        family_id,
        "",
        "kitchen",
        condition,
        frozenset(),
        "test",
    )


def _families(n: int) -> list[ManifestRow]:
    """n families with 1-4 photos each and mixed conditions (a few unlabelled)."""
    conditions = [1, 2, 3, 4, 5, None]
    return [
        _row(f"F{f}", p, conditions[(f + p) % len(conditions)])
        for f in range(n)
        for p in range(1 + f % 4)
    ]


def _split_of_families(rows: list[ManifestRow]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        found[row.family_id].add(row.split)
    return found


# --- splits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_family_in_two_splits_whatever_the_row_order(seed):
    rows = _families(60)
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    first = split_rows(rows, seed=seed)
    second = split_rows(shuffled, seed=seed)
    assert all(len(s) == 1 for s in _split_of_families(first).values())
    # The same family gets the same split however the rows are ordered.
    assert {r.path: r.split for r in first} == {r.path: r.split for r in second}
    # Every split is used on 60 families, and the rows come back in their own order.
    assert {r.split for r in first} == set(SPLITS)
    assert [r.path for r in second] == [r.path for r in shuffled]


def test_split_does_not_depend_on_the_hash_seed():
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_splits_taxonomy_review16 import _families\n"
        "from shanyraq.splits import split_rows\n"
        "print(json.dumps({r.path: r.split for r in split_rows(_families(40), seed=3)}))\n"
    )
    results = []
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            check=True,
        )
        results.append(json.loads(done.stdout))
    here = {r.path: r.split for r in split_rows(_families(40), seed=3)}
    assert results[0] == results[1] == here


def test_ids_differing_only_in_case_or_space_are_one_family():
    """`F1`, `f1`, ` F1` and `F1 ` are one home typed four ways: splitting them apart would
    put one home's photos in train and test (and the manifest reader strips the spaces, so
    the written manifest would show the leak)."""
    rows = []
    for f in range(40):
        for p, spelling in enumerate((f"F{f}", f"f{f}", f" F{f}", f"F{f} ")):
            rows.append(_row(spelling, p, 1 + f % 5))
    split = split_rows(rows, seed=0)
    by_family: dict[str, set[str]] = defaultdict(set)
    for row in split:
        by_family[row.family_id.strip().casefold()].add(row.split)
    assert len(by_family) == 40
    assert all(len(s) == 1 for s in by_family.values()), by_family
    assert {r.split for r in split} == set(SPLITS)
    # The ids are kept as written: the split groups them, it does not rewrite them.
    assert [r.family_id for r in split] == [r.family_id for r in rows]


def test_split_with_padded_ids_writes_a_manifest_without_a_family_leak(tmp_path):
    rows = []
    for f in range(30):
        for p, spelling in enumerate((f"F{f}", f"F{f} ")):
            row = _row(spelling, p, 1 + f % 5)
            (tmp_path / row.path).write_bytes(f"{spelling!r} {p}".encode())
            sha = hashlib.sha256((tmp_path / row.path).read_bytes()).hexdigest()
            rows.append(replace(row, sha256=sha))
    out = write_manifest(tmp_path / "split.csv", split_rows(rows, seed=2))
    kinds = Counter(p.kind for p in check_manifest(out, load_taxonomy()))
    assert kinds["family_split_leak"] == 0, kinds


@pytest.mark.parametrize("n_families", [1, 2, 3])
def test_small_sets_keep_train_and_honour_fractions_within_rounding(n_families):
    """Every way 1-3 families can fall into condition strata: train is never empty, and each
    split's count of families is within one of n * fraction."""
    fractions = (0.7, 0.15, 0.15)
    for conditions in itertools.product([1, 3, 5], repeat=n_families):
        rows = [_row(f"F{i}", 0, c) for i, c in enumerate(conditions)]
        for seed in range(5):
            split = split_rows(rows, fractions=fractions, seed=seed)
            counts = Counter(r.split for r in split)
            assert counts["train"] >= 1, (conditions, seed, counts)
            for name, fraction in zip(SPLITS, fractions, strict=True):
                assert abs(counts[name] - n_families * fraction) < 1, (conditions, counts)


@pytest.mark.parametrize("n_families", [1, 2, 3, 5, 11, 40])
def test_zero_fraction_split_gets_no_family(n_families):
    split = split_rows(_families(n_families), fractions=(0.8, 0.2, 0.0), seed=1)
    counts = Counter(r.split for r in split)
    assert counts["test"] == 0
    assert counts["train"] >= 1


@pytest.mark.parametrize(
    "fractions",
    [
        (float("nan"), 0.15, 0.15),
        (float("inf"), 0.0, 0.0),
        (0.7, 0.3),
        (0.7, -0.1, 0.4),
        (0.0, 0.0, 0.0),
    ],
)
def test_bad_fractions_are_refused_in_words(fractions):
    with pytest.raises(ValueError, match="fractions") as info:
        split_rows(_families(5), fractions=fractions)
    assert "\n" not in str(info.value)
    assert "convert" not in str(info.value)


# --- taxonomy ---------------------------------------------------------------------------------


def test_grade_lookup_refuses_values_outside_the_scale(taxonomy):
    assert [taxonomy.grade(v).value for v in taxonomy.condition_values] == [1, 2, 3, 4, 5]
    for value in (0, -1, 6):
        # grade(0) used to index from the end and answer "premium".
        with pytest.raises(ValueError, match=rf"condition grade {value} is not one of 1, 2, "):
            taxonomy.grade(value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["room"]["classes"][0].update(name="kitchenette"),
        lambda d: d["condition"]["grades"][4].update(name="luxury"),
        lambda d: d["signs"]["classes"][6].update(points_to="need"),
        lambda d: d["signs"]["classes"].reverse(),
        lambda d: d["room"]["classes"].insert(0, {"name": "hallway", "description": "Hall."}),
        lambda d: d["signs"]["classes"].pop(),
        lambda d: d.update(version=2),
    ],
)
def test_fingerprint_changes_with_any_label(tmp_path, mutate):
    """An older project or model (made with another taxonomy) is told apart by its
    fingerprint, even where the version was not bumped."""
    real = load_taxonomy(REAL)
    changed = load_taxonomy(broken_taxonomy(tmp_path, mutate))
    assert changed.fingerprint() != real.fingerprint()


def test_fingerprint_ignores_yaml_layout(tmp_path):
    data = yaml.safe_load(REAL.read_text())
    path = tmp_path / "taxonomy.yaml"
    path.write_text("# reformatted\n" + json.dumps(data, indent=4))  # JSON is YAML too
    assert load_taxonomy(path).fingerprint() == load_taxonomy(REAL).fingerprint()
