"""Review 18 of annotation/agreement.py: alpha against a textbook computation, merging edges.

The reference below follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
pair by pair (no matrix algebra shared with the code under test): o_ck counts the ordered
pairs of values within a unit, each weighted 1/(m_u - 1); units with one value are not
pairable; the ordinal distance is (sum_{g=c..k} n_g - (n_c + n_k)/2)^2.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Hashable, Sequence

import pytest

from annotation.agreement import (
    PRIOR_AGREEMENT,
    agreement_by_head,
    krippendorff_alpha,
    merge_all,
    merge_votes,
    reliability_weights,
)
from annotation.label_config import PhotoLabels as L

N = None


def textbook_alpha(units, *, metric: str, order: list) -> float:
    coincidence: defaultdict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for unit in units:
        values = [v for v in unit if v is not None]
        if len(values) < 2:
            continue
        for i, j in itertools.permutations(range(len(values)), 2):
            coincidence[values[i], values[j]] += 1.0 / (len(values) - 1)
    n_c = {c: sum(w for (a, _), w in coincidence.items() if a == c) for c in order}
    n = sum(n_c.values())
    if n == 0 or sum(1 for c in order if n_c[c] > 0) < 2:
        return math.nan

    def delta2(c, k) -> float:
        if metric == "nominal":
            return 0.0 if c == k else 1.0
        lo, hi = sorted((order.index(c), order.index(k)))
        between = sum(n_c[g] for g in order[lo : hi + 1])
        return (between - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(w * delta2(c, k) for (c, k), w in coincidence.items())
    expected = sum(n_c[c] * n_c[k] * delta2(c, k) for c in order for k in order)
    return 1.0 - (n - 1) * observed / expected


def _random_units(seed: int, values: list, *, missing: float) -> list[list[Hashable]]:
    rng = random.Random(seed)
    annotators = rng.randint(2, 5)
    truth_weights = [rng.random() for _ in values]
    units = []
    for _ in range(rng.randint(8, 30)):
        truth = rng.choices(values, truth_weights)[0]
        unit: list[Hashable] = []
        for _ in range(annotators):
            if rng.random() < missing:
                unit.append(None)
            elif rng.random() < 0.7:
                unit.append(truth)
            else:
                unit.append(rng.choice(values))
        units.append(unit)
    units.append([values[0]] + [None] * (annotators - 1))  # one answer: not pairable
    return units


@pytest.mark.parametrize("seed", range(40))
def test_ordinal_alpha_matches_the_textbook_with_grades_missing(seed):
    order = [1, 2, 3, 4, 5]
    present = random.Random(seed).sample(order, k=random.Random(seed + 1).randint(2, 4))
    units = _random_units(seed, sorted(present), missing=0.3)
    expected = textbook_alpha(units, metric="ordinal", order=order)
    alpha = krippendorff_alpha(units, metric="ordinal", order=order)
    assert alpha == pytest.approx(expected, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("seed", range(40))
def test_nominal_alpha_matches_the_textbook(seed):
    rooms = ["kitchen", "bathroom", "bedroom", "living_room", "exterior", "not_dwelling"]
    units = _random_units(seed, rooms[: 2 + seed % 5], missing=0.25)
    expected = textbook_alpha(units, metric="nominal", order=rooms)
    assert krippendorff_alpha(units) == pytest.approx(expected, abs=1e-12, nan_ok=True)


# Computed with the PyPI `krippendorff` package 0.9.0 (not a project dependency):
# krippendorff.alpha(reliability_data=numpy.array(RELIABILITY, dtype=float).T,
#                    level_of_measurement=..., value_domain=[1, 2, 3, 4, 5])
# gave nominal 0.4947735191637631, ordinal 0.6911620082815735; the textbook above agrees.
RELIABILITY: list[Sequence[Hashable]] = [
    [1, 1, 2, N], [2, 2, N, 2], [4, 4, 4, 2], [1, 2, 1, 1], [4, N, N, N],
    [2, 4, 2, 2], [1, 1, 1, N], [4, 4, N, 4], [N, N, 2, 1], [2, 2, 2, 2],
]  # fmt: skip
PACKAGE_VALUES = {"nominal": 0.4947735191637631, "ordinal": 0.6911620082815735}


@pytest.mark.parametrize("metric", ["nominal", "ordinal"])
def test_alpha_matches_the_reference_package_with_grades_3_and_5_absent(metric):
    order = [1, 2, 3, 4, 5]
    alpha = krippendorff_alpha(RELIABILITY, metric=metric, order=order)
    assert alpha == pytest.approx(PACKAGE_VALUES[metric], abs=1e-12)
    assert textbook_alpha(RELIABILITY, metric=metric, order=order) == pytest.approx(alpha)


def test_units_with_one_answer_do_not_move_alpha():
    units: list[Sequence[Hashable]] = [[1, 2, N], [2, 2, 3], [3, 3, 3], [1, N, 1]]
    alone: list[Sequence[Hashable]] = [[5, N, N], [N, N, 4], [N, N, N], []]
    for metric in ("nominal", "ordinal"):
        base = krippendorff_alpha(units, metric=metric, order=[1, 2, 3, 4, 5])
        assert krippendorff_alpha(units + alone, metric=metric, order=[1, 2, 3, 4, 5]) == base


def test_ordinal_alpha_without_an_order_sorts_numbers_as_numbers():
    """The default order is the values sorted: 2 lies between 1 and 10, not after "10"."""
    units = [[1, 2], [2, 10], [10, 10], [1, 1], [2, 2]]
    expected = textbook_alpha(units, metric="ordinal", order=[1, 2, 10])
    assert krippendorff_alpha(units, metric="ordinal") == pytest.approx(expected)


def test_alpha_is_undefined_when_every_answer_is_the_same(taxonomy):
    """0/0: no disagreement observed and none expected. alpha is nan (the pull report writes
    null) rather than 1.0, while the head's photos and unanimous counts still show that all
    agreed."""
    same: list[Sequence[Hashable]] = [[3, 3, N], [3, 3, 3], [N, 3, 3]]
    assert math.isnan(krippendorff_alpha(same, metric="ordinal", order=[1, 2, 3, 4, 5]))
    home = L("kitchen", 3, frozenset())
    result = agreement_by_head([[("a", home), ("b", home)]] * 3, taxonomy)
    for head in ("room", "condition", "signs"):
        assert math.isnan(result[head].alpha)
        assert (result[head].photos, result[head].unanimous) == (3, 3)


def test_signs_alpha_is_the_mean_over_signs_where_defined(taxonomy):
    damp, window = frozenset({"damp_mould"}), frozenset({"damp_mould", "broken_window"})
    photos = [
        [("a", L("kitchen", 2, damp)), ("b", L("kitchen", 2, damp)), ("c", L("kitchen", 2, N))],
        [("a", L("kitchen", 2, window)), ("b", L("kitchen", 2, damp))],
        [("a", L("kitchen", 2, frozenset())), ("b", L("kitchen", 2, frozenset()))],
        [("a", L("bedroom", 3, damp)), ("b", L("not_dwelling", N, frozenset()))],
    ]
    per_sign = []
    for sign in taxonomy.sign_names:
        units = [
            [
                N if lab.room in (N, taxonomy.not_dwelling) or lab.signs is N else sign in lab.signs
                for _, lab in votes
            ]
            for votes in photos
        ]
        per_sign.append(textbook_alpha(units, metric="nominal", order=[False, True]))
    defined = [a for a in per_sign if not math.isnan(a)]
    assert len(defined) == 2  # damp_mould and broken_window; the other signs never seen
    result = agreement_by_head(photos, taxonomy)["signs"]
    assert result.alpha == pytest.approx(sum(defined) / len(defined))
    assert (result.photos, result.unanimous) == (3, 2)


# Merging.


def test_a_weighted_tie_is_found_whatever_the_order_of_votes(taxonomy):
    """0.1 + 0.2 against 0.3 is a tie, though the floats differ; the order of the votes
    never changes the outcome."""
    votes = [
        ("a", L("kitchen", 3, frozenset())),
        ("b", L("kitchen", 3, frozenset())),
        ("c", L("bathroom", 3, frozenset())),
    ]
    weights = {"a": 0.1, "b": 0.2, "c": 0.3}
    outcomes = {merge_votes(list(p), taxonomy, weights) for p in itertools.permutations(votes)}
    assert len(outcomes) == 1
    (merged,) = outcomes
    assert merged.labels == L(N, 3, frozenset()) and merged.unresolved == ("room",)
    weights["c"] = 0.29
    assert merge_votes(votes, taxonomy, weights).labels.room == "kitchen"


def test_a_three_way_tie_on_condition_stays_unlabelled(taxonomy):
    votes = [(x, L("kitchen", g, frozenset())) for x, g in (("a", 2), ("b", 3), ("c", 4))]
    merged = merge_votes(votes, taxonomy)
    assert merged.labels == L("kitchen", N, frozenset())
    assert merged.unresolved == ("condition",) and merged.disagreed == ("condition",)


def test_an_annotator_who_shares_no_photo_keeps_exactly_the_prior_weight(taxonomy):
    home = L("kitchen", 3, frozenset())
    photos = [[("a", home), ("b", home)] for _ in range(10)]
    photos += [[("loner", L("bedroom", 2, frozenset()))] for _ in range(20)]
    weights = reliability_weights(photos, taxonomy)
    assert weights["loner"] == pytest.approx(math.log(PRIOR_AGREEMENT / (1 - PRIOR_AGREEMENT)))
    assert weights["a"] == weights["b"] > weights["loner"]
    outcome = merge_all(photos, taxonomy, method="reliability")
    assert all(m.labels == L("bedroom", 2, frozenset()) for m in outcome.merged[10:])


def test_not_a_home_against_rooms_of_a_home(taxonomy):
    nd = L("not_dwelling", N, frozenset())
    kitchen, bath = L("kitchen", 2, frozenset({"damp_mould"})), L("bathroom", 2, frozenset())
    # Two saw a home (in different rooms), one did not: the room ties, the home is settled.
    merged = merge_votes([("a", kitchen), ("b", bath), ("c", nd)], taxonomy)
    assert merged.labels == L(N, 2, N) and merged.unresolved == ("room", "signs")
    assert merged.tied_signs == ("damp_mould",)
    # One against one: whether it is a home at all is unknown, so nothing is labelled.
    merged = merge_votes([("a", kitchen), ("c", nd)], taxonomy)
    assert merged.labels == L(N, N, N) and merged.unresolved == ("room",)
    # Not a home wins: no condition, no signs (an empty set, not unknown).
    merged = merge_votes([("a", kitchen), ("c", nd), ("d", nd)], taxonomy)
    assert merged.labels == L("not_dwelling", N, frozenset()) and merged.unresolved == ()


def test_a_sign_tie_under_weights_names_the_tied_signs_and_keeps_condition(taxonomy):
    votes = [
        ("a", L("kitchen", 2, frozenset({"damp_mould", "broken_window"}))),
        ("b", L("kitchen", 2, frozenset({"damp_mould"}))),
        ("c", L("kitchen", 2, frozenset())),
    ]
    merged = merge_votes(votes, taxonomy, {"a": 0.25, "b": 0.25, "c": 0.5})
    assert merged.labels == L("kitchen", 2, N)
    assert merged.unresolved == ("signs",) and merged.tied_signs == ("damp_mould",)
    merged = merge_votes(votes, taxonomy)  # equal weights: damp 2 of 3, window 1 of 3
    assert merged.labels.signs == frozenset({"damp_mould"}) and merged.tied_signs == ()


def test_not_a_home_wins_only_when_it_outweighs_the_home_votes(taxonomy):
    """Whether the photo shows a home is settled before the room: two who saw a home (in
    different rooms) against two who did not is a tie on that, as kitchen against
    not_dwelling is, not a not_dwelling win by plurality that writes "no signs"."""
    nd = L("not_dwelling", N, frozenset())
    kitchen, bath = L("kitchen", 2, frozenset({"damp_mould"})), L("bathroom", 2, frozenset())
    merged = merge_votes([("a", kitchen), ("b", bath), ("c", nd), ("d", nd)], taxonomy)
    assert merged.labels == L(N, N, N) and merged.unresolved == ("room",)
    # More weight saw a home, though not_dwelling has the most of any one room.
    weights = {"a": 1.0, "b": 1.0, "c": 1.5}
    merged = merge_votes([("a", kitchen), ("b", bath), ("c", nd)], taxonomy, weights)
    assert merged.labels == L(N, 2, N) and merged.unresolved == ("room", "signs")
    weights["c"] = 2.5
    merged = merge_votes([("a", kitchen), ("b", bath), ("c", nd)], taxonomy, weights)
    assert merged.labels == L("not_dwelling", N, frozenset()) and merged.unresolved == ()
