"""Review 16: photos to family at the edges: which tally each unusable photo lands in, a room
tie, the photos' order, and a scores file that contradicts itself.

Before: a photo's room on a tie was the first key of its score's dict, so the same photo read
from a file with its rooms in another order fell in another room (or, tied with not_dwelling,
counted as a usable photo the engine would call no home); a scores file could say abstain false
beside reasons to abstain, and its photo was read as evidence; no expected rooms divided by zero.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, replace

import pytest

from shanyraq.errors import ConfigError, InputFileError
from tests.welfare.aggregate_helpers import EXPECTED, score
from tests.welfare.score_helpers import good_score
from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING, ABSTAIN_QUALITY
from welfare.aggregate import PhotoFlags, aggregate
from welfare.photo_scores import read_photo_scores


def _reordered(photo, *, reverse: bool):
    """The same score with its room keys in another order (as a file may list them)."""
    keys = sorted(photo.room, reverse=reverse)
    return replace(photo, room={k: photo.room[k] for k in keys})


def _visual(scores, flags=None, taxonomy=None):
    return aggregate(scores, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)


def _flat(value, prefix=""):
    """Every number of a FamilyVisual by its path, NaN kept as the text 'nan' (NaN != NaN)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flat(inner, f"{prefix}.{key}")
    else:
        yield prefix, "nan" if isinstance(value, float) and math.isnan(value) else value


# --- which tally each unusable photo lands in ------------------------------------------------


def test_each_kind_of_unusable_photo_lands_in_its_own_tally_and_is_flagged_once(taxonomy):
    """One photo per kind: a reason counts in its tally, a photo is flagged once whatever the
    number of its reasons, and only the pass and warn photos are evidence."""
    kinds = {
        "pass": (score(taxonomy, "kitchen", 2, sha="p"), None),
        "warn": (score(taxonomy, "bedroom", 4, sha="w"), PhotoFlags("warn")),
        # the engine abstains on a failed photo too (vision.engine.abstain_reasons)
        "fail": (
            replace(score(taxonomy, sha="f", abstain=True), abstain_reasons=(ABSTAIN_QUALITY,)),
            PhotoFlags("fail"),
        ),
        "not_a_home": (
            replace(
                score(taxonomy, "not_dwelling", sha="n", abstain=True),
                abstain_reasons=(ABSTAIN_NOT_DWELLING,),
            ),
            None,
        ),
        "low_confidence": (
            replace(
                score(taxonomy, "bathroom", sha="l", abstain=True),
                abstain_reasons=(ABSTAIN_LOW_CONFIDENCE,),
            ),
            None,
        ),
        "reused": (score(taxonomy, "living_room", sha="r"), PhotoFlags(reused=True)),
        "abstained_and_reused": (
            score(taxonomy, "exterior", sha="ar", abstain=True),
            PhotoFlags(reused=True),
        ),
    }
    scores, flags = zip(*kinds.values(), strict=True)
    visual = _visual(list(scores), list(flags), taxonomy)
    assert (visual.n_photos, visual.n_usable, visual.n_flagged) == (7, 2, 5)
    # abstained: fail, not_a_home, low_confidence, abstained_and_reused
    assert visual.n_abstained == 4
    assert visual.n_quality_failed == 1
    assert visual.n_reused == 2
    assert visual.flagged_share == pytest.approx(5 / 7)
    usable = {room for room, stats in visual.per_room.items() if stats.count}
    assert usable == {"kitchen", "bedroom"}
    assert visual.room_coverage == pytest.approx(2 / len(EXPECTED))
    grades = [kinds[kind][0].expected_condition for kind in ("pass", "warn")]
    assert visual.overall.condition_mean == pytest.approx(sum(grades) / 2)


def test_a_room_whose_only_photo_abstained_is_not_covered_but_the_photo_is_counted(taxonomy):
    kitchen = score(taxonomy, "kitchen", 3, sha="k")
    bathroom = replace(
        score(taxonomy, "bathroom", 1, sha="b", abstain=True),
        abstain_reasons=(ABSTAIN_LOW_CONFIDENCE,),
    )
    visual = _visual([kitchen, bathroom], taxonomy=taxonomy)
    assert visual.room_coverage == pytest.approx(1 / len(EXPECTED))
    assert visual.per_room["bathroom"].count == 0
    assert math.isnan(visual.per_room["bathroom"].condition_mean)
    assert (visual.n_photos, visual.n_abstained, visual.n_flagged) == (2, 1, 1)


# --- order: of the photos, and of a score's rooms --------------------------------------------


def test_shuffling_the_photos_changes_no_figure(taxonomy):
    """Counts and every per-room and overall figure, whatever the photos' order (figures to
    rounding: a sum of floats in another order may differ in its last bit)."""
    rng = random.Random(0)
    scores, flags = [], []
    for i in range(14):
        room = rng.choice([*taxonomy.dwelling_rooms, taxonomy.not_dwelling])
        signs = {s: rng.random() for s in taxonomy.sign_names}
        scores.append(
            score(taxonomy, room, rng.choice(taxonomy.condition_values), sha=str(i), signs=signs)
        )
        flags.append(rng.choice([None, PhotoFlags("warn"), PhotoFlags("fail"), None]))
    base = dict(_flat(asdict(_visual(scores, flags, taxonomy))))
    assert base[".n_usable"] >= 4  # the photos give evidence to compare
    for seed in range(5):
        order = list(range(len(scores)))
        random.Random(seed).shuffle(order)
        shuffled = _visual([scores[i] for i in order], [flags[i] for i in order], taxonomy)
        got = dict(_flat(asdict(shuffled)))
        assert got.keys() == base.keys()
        for key, value in base.items():
            assert got[key] == (value if isinstance(value, str) else pytest.approx(value)), key


def test_a_room_tie_does_not_depend_on_the_order_of_the_score_s_keys(taxonomy):
    """Two dwelling rooms tied: the photo falls in one room, the same one whatever order the
    score lists its rooms in (a file's, a database's)."""
    tied = score(taxonomy, "kitchen", 2, rooms={"kitchen": 0.45, "bedroom": 0.45})
    rooms = set()
    for reverse in (False, True):
        visual = _visual([_reordered(tied, reverse=reverse)], taxonomy=taxonomy)
        assert visual.n_usable == 1
        rooms |= {room for room, stats in visual.per_room.items() if stats.count}
    assert len(rooms) == 1


def test_a_room_tied_with_not_dwelling_is_no_home_in_either_order(taxonomy):
    """As the engine rules (vision.engine.abstain_reasons): a sure room tied with not_dwelling
    is no sure home, so a score that did not abstain on it is still no evidence."""
    tied = score(taxonomy, "kitchen", 2, rooms={"kitchen": 0.495, "not_dwelling": 0.495})
    for reverse in (False, True):
        visual = _visual([_reordered(tied, reverse=reverse)], taxonomy=taxonomy)
        assert (visual.n_photos, visual.n_usable, visual.n_flagged) == (1, 0, 1)
        assert visual.room_coverage == 0.0


def test_no_expected_rooms_is_a_config_error_not_a_division_by_zero(taxonomy):
    with pytest.raises(ConfigError, match=r"fusion\.expected_rooms"):
        aggregate([score(taxonomy)], expected_rooms=[], taxonomy=taxonomy)


# --- a taxonomy sign the scores lack ---------------------------------------------------------


def test_a_sign_only_some_photos_give_is_averaged_over_those_photos(taxonomy):
    """A score from a model without a sign: that sign's figures come from the photos that give
    it, not from the others read as 0 or as NaN."""
    with_sign = score(taxonomy, "kitchen", 2, sha="a", signs={"damp_mould": 0.8})
    without = score(taxonomy, "kitchen", 2, sha="b", signs={"damp_mould": 0.2})
    del without.signs["damp_mould"]
    visual = _visual([with_sign, without], taxonomy=taxonomy)
    assert visual.n_usable == 2
    assert visual.overall.sign_mean["damp_mould"] == pytest.approx(0.8)
    assert visual.overall.sign_max["damp_mould"] == pytest.approx(0.8)
    assert visual.overall.sign_mean["premium_finishes"] == pytest.approx(0.05)


# --- a scores file -----------------------------------------------------------------------------


def _read(tmp_path, entries):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(entries))
    return read_photo_scores(path)


@pytest.mark.parametrize("abstain", [False, None])
def test_a_file_score_with_reasons_to_abstain_that_does_not_abstain_is_refused(tmp_path, abstain):
    """abstain false (or left out) beside a reason: which one holds? Read as evidence, a photo
    the engine called not a home would count as a usable one; the file is refused instead."""
    contradicts = good_score("cd" * 32) | {"abstain_reasons": [ABSTAIN_NOT_DWELLING]}
    if abstain is None:
        del contradicts["abstain"]
    with pytest.raises(InputFileError) as refused:
        _read(tmp_path, [good_score(), contradicts])
    message = refused.value.message
    assert "1 of 2 photo score(s) cannot be used" in message
    assert f"entry 2 (photo {'cd' * 32}): abstain is false but abstain_reasons" in message
    assert "entry 1" not in message


def test_a_file_score_that_abstains_with_its_reason_is_read_as_an_abstained_photo(
    tmp_path, taxonomy
):
    abstains = good_score("cd" * 32) | {"abstain": True, "abstain_reasons": [ABSTAIN_QUALITY]}
    scores, flags = _read(tmp_path, [good_score(), abstains])
    visual = _visual(scores, flags, taxonomy)
    assert (visual.n_photos, visual.n_usable, visual.n_abstained) == (2, 1, 1)


def test_one_photo_listed_twice_in_a_file_is_refused_whatever_the_case_of_its_hash(tmp_path):
    """The same bytes listed twice would weigh twice in the family's means."""
    with pytest.raises(InputFileError, match="the same photo as entry 1; list each photo once"):
        _read(tmp_path, [good_score("ab" * 32), good_score("AB" * 32)])
