"""The audit trail's input hash: the same inputs give the same hash however "no flags" is
passed, and the hashes the service already stored (explicit flags for every photo) stay valid."""

from __future__ import annotations

import hashlib
import json

from tests.welfare.assess_helpers import photo
from tests.welfare.families_helpers import family
from welfare.aggregate import PhotoFlags
from welfare.assess import assess, input_hash
from welfare.schema import parse_family


def _inputs(config, taxonomy):
    record = parse_family(family(config), config=config)
    scores = [photo(taxonomy, room, 3, sha=room) for room in ("kitchen", "bedroom", "bathroom")]
    return record, scores


def test_no_flags_none_per_photo_and_the_defaults_hash_alike(welfare_config, taxonomy):
    record, scores = _inputs(welfare_config, taxonomy)
    hashes = {
        input_hash(record, scores, flags)
        for flags in (None, [None] * len(scores), [PhotoFlags()] * len(scores))
    }
    assert len(hashes) == 1
    mixed = [None, PhotoFlags(), PhotoFlags(quality_status="pass", reused=False)]
    assert input_hash(record, scores, mixed) in hashes


def test_an_assessment_hashes_alike_however_no_flags_are_passed(trained, welfare_config, taxonomy):
    record, scores = _inputs(welfare_config, taxonomy)
    model = trained["lgbm_tabular"]
    results = [
        assess(
            record, scores, model=model, photo_flags=flags, config=welfare_config, taxonomy=taxonomy
        )
        for flags in (None, [None] * len(scores), [PhotoFlags()] * len(scores))
    ]
    assert len({r.input_hash for r in results}) == 1
    assert len({(r.asp, r.level) for r in results}) == 1


def test_flags_that_say_something_change_the_hash(welfare_config, taxonomy):
    record, scores = _inputs(welfare_config, taxonomy)
    plain = input_hash(record, scores, None)
    reused = [PhotoFlags(), PhotoFlags(reused=True), PhotoFlags()]
    failed = [PhotoFlags(quality_status="fail"), PhotoFlags(), PhotoFlags()]
    assert len({plain, input_hash(record, scores, reused), input_hash(record, scores, failed)}) == 3


def test_hashes_stored_by_the_service_stay_valid(welfare_config, taxonomy):
    """The service passes explicit flags for each scored photo: the hash of that is the one
    it has always stored (the payload as it was written before flags were made canonical)."""
    record, scores = _inputs(welfare_config, taxonomy)
    flags = [PhotoFlags(quality_status="warn"), PhotoFlags(reused=True), PhotoFlags()]
    stored = {
        "record": record.model_dump(mode="json"),
        "scores": [s.to_dict() for s in scores],
        # As the service wrote flags before `repeated` existed: the two fields, spelt out.
        "flags": [{"quality_status": f.quality_status, "reused": f.reused} for f in flags],
    }
    expected = hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()
    assert input_hash(record, scores, flags) == expected
    assert input_hash(record, [], []) == input_hash(record, [], None)
