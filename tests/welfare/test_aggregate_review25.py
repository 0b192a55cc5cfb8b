"""Review 25: photos to family, as the README's `--scores` file reaches them.

The README builds the file with `score --json ... | jq -s '[.[].score]'`: the score objects
alone, without the quality verdict beside them, and null for a photo `score` could not decode.

Before: a photo the engine abstained on for a failed quality check (abstain reason
quality_fail) was counted as abstained but not as quality-failed, so the assessment's photo
counts said quality_failed 0 for it; and a null entry was refused as "not a JSON object but
NoneType", a Python name for what the file calls null.
"""

from __future__ import annotations

import json

import pytest

from shanyraq.errors import InputFileError
from tests.welfare.aggregate_helpers import EXPECTED
from tests.welfare.score_helpers import good_score
from vision.score import ABSTAIN_QUALITY
from welfare.aggregate import PhotoFlags, aggregate
from welfare.photo_scores import read_photo_scores


def _read(tmp_path, entries):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(entries))
    return read_photo_scores(path)


def test_a_photo_the_engine_failed_on_quality_counts_as_quality_failed_without_flags(
    tmp_path, taxonomy
):
    failed = good_score("cd" * 32) | {"abstain": True, "abstain_reasons": [ABSTAIN_QUALITY]}
    scores, flags = _read(tmp_path, [good_score(), failed])
    assert flags == [None, None]  # the README's file carries no quality verdict
    visual = aggregate(scores, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_photos, visual.n_usable, visual.n_abstained) == (2, 1, 1)
    assert visual.n_quality_failed == 1
    assert visual.n_flagged == 1


def test_a_failed_photo_named_by_both_its_flag_and_its_score_counts_once(tmp_path, taxonomy):
    failed = good_score("cd" * 32) | {
        "abstain": True,
        "abstain_reasons": [ABSTAIN_QUALITY],
        "flags": {"quality_status": "fail"},
    }
    warned = good_score("ef" * 32) | {"flags": {"quality_status": "warn"}}
    scores, flags = _read(tmp_path, [failed, warned])
    assert flags == [PhotoFlags("fail"), PhotoFlags("warn")]
    visual = aggregate(scores, flags=flags, expected_rooms=EXPECTED, taxonomy=taxonomy)
    assert (visual.n_usable, visual.n_abstained, visual.n_quality_failed) == (1, 1, 1)


def test_a_null_entry_is_named_as_json_names_it(tmp_path):
    """`jq '[.[].score]'` writes null for a photo `score --json` could not decode."""
    with pytest.raises(InputFileError) as refused:
        _read(tmp_path, [good_score(), None])
    message = refused.value.message
    assert "entry 2: not a JSON object but null" in message
    assert "NoneType" not in message
