"""A photo flagged `repeated` (the family's own photo sent again) is counted once: not evidence,
counted among the photos not used; and the input hashes of families without one stay as they
were stored."""

from __future__ import annotations

import hashlib
import json

import pytest

from shanyraq.errors import InputFileError
from tests.welfare.aggregate_helpers import EXPECTED, score
from tests.welfare.families_helpers import family
from tests.welfare.score_helpers import good_score
from welfare.aggregate import PhotoFlags, aggregate, usable
from welfare.assess import assess, input_hash
from welfare.photo_scores import read_photo_scores
from welfare.schema import parse_family


def _photos(taxonomy):
    """A damp kitchen wall, a dry bedroom, and the kitchen photo sent again (other bytes)."""
    damp = {"damp_mould": 0.9}
    return [
        score(taxonomy, "kitchen", 2, sha="a", signs=damp),
        score(taxonomy, "bedroom", 4, sha="b", signs={"damp_mould": 0.1}),
        score(taxonomy, "kitchen", 2, sha="c", signs=damp),
    ]


def test_a_repeated_photo_weighs_as_if_it_had_been_sent_once(taxonomy):
    photos = _photos(taxonomy)
    flags = [None, None, PhotoFlags(repeated=True)]
    visual = aggregate(photos, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
    once = aggregate(photos[:2], expected_rooms=EXPECTED, taxonomy=taxonomy)
    twice = aggregate(photos, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_photos, visual.n_usable, visual.n_flagged) == (3, 2, 1)
    assert (visual.n_repeated, visual.n_reused, visual.n_quality_failed) == (1, 0, 0)
    assert visual.overall == once.overall and visual.per_room == once.per_room
    assert twice.overall.sign_mean["damp_mould"] > once.overall.sign_mean["damp_mould"]
    assert not usable(photos[2], flags[2], taxonomy) and usable(photos[2], None, taxonomy)


def test_an_assessment_counts_the_repeat_among_the_photos_not_used(welfare_config, taxonomy):
    record = parse_family(family(welfare_config), config=welfare_config)
    flags = [PhotoFlags(), PhotoFlags(), PhotoFlags(repeated=True)]
    result = assess(
        record, _photos(taxonomy), model=None, photo_flags=flags, config=welfare_config,
        taxonomy=taxonomy,
    )  # fmt: skip
    assert result.photos["repeated"] == 1
    assert (result.photos["usable"], result.photos["flagged"], result.photos["reused"]) == (2, 1, 0)
    assert not any(s["code"] == "doubt.reused_photos" for s in result.review_statements)


def test_flags_without_a_repeat_hash_as_the_stored_assessments_did(welfare_config, taxonomy):
    """The payload the service hashed before `repeated` existed, written out: its hash is
    still the one a family without a repeat gets, so stored input hashes stay reproducible."""
    record = parse_family(family(welfare_config), config=welfare_config)
    photos = _photos(taxonomy)
    flags = [PhotoFlags(quality_status="warn"), PhotoFlags(reused=True), PhotoFlags()]
    stored = {
        "record": record.model_dump(mode="json"),
        "scores": [s.to_dict() for s in photos],
        "flags": [
            {"quality_status": "warn", "reused": False},
            {"quality_status": "pass", "reused": True},
            {"quality_status": "pass", "reused": False},
        ],
    }
    expected = hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()
    assert input_hash(record, photos, flags) == expected
    repeated = [*flags[:2], PhotoFlags(repeated=True)]
    assert input_hash(record, photos, repeated) != expected


def _read(tmp_path, entries):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(entries))
    return read_photo_scores(path)


def test_a_scores_file_may_say_a_photo_repeats_another(tmp_path, taxonomy):
    scores, flags = _read(
        tmp_path, [good_score("ab" * 32), good_score("cd" * 32) | {"flags": {"repeated": True}}]
    )
    assert flags == [None, PhotoFlags(repeated=True)]
    visual = aggregate(scores, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_usable, visual.n_repeated) == (1, 1)


def test_a_scores_file_repeated_flag_that_is_no_yes_or_no_is_refused(tmp_path):
    bad = good_score("cd" * 32) | {"flags": {"repeated": "yes"}}
    with pytest.raises(InputFileError) as refused:
        _read(tmp_path, [good_score("ab" * 32), bad])
    assert f"entry 2 (photo {'cd' * 32}): flags.repeated is not true or false" in (
        refused.value.message
    )
