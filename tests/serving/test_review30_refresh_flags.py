"""`assessments refresh` flags a stale family's photos once.

Finding the stale assessments (serving.reassessment.stale_assessments) asks every family's
repeats of the reuse index, which flags its photos (photo_evidence.family_flags, each
verified against the index); recomputing a family stale for its repeats then flagged them
again to check it and recompute it. The flags found while finding it now carry over to its
recomputation, as one request's `FlagsMemo` carries them from step to step.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from serving.photo_evidence import REPEATED_KEY
from tests.serving.helpers import Service, criteria
from tests.serving.repeat_helpers import (
    latest_version,
    record_repeats,
    refresh_all,
)


def test_a_family_stale_for_its_repeats_is_flagged_once_by_a_refresh(
    with_repeat: tuple[Service, int, dict[str, Any]], flagged: Counter[str]
) -> None:
    service, copy, made = with_repeat
    record_repeats(service, made["assessment_id"], None)  # it counted the copy as a photo
    flagged.clear()
    report = refresh_all(service)
    assert report.refreshed == {"repeats": 1} and not report.failed
    assert flagged == {"F1": 1}
    now = latest_version(service, "F1")
    assert now.version == made["version"] + 1
    assert now.model_versions[REPEATED_KEY] == str(copy)


def test_a_family_stale_for_its_record_is_flagged_once_by_a_refresh(
    with_repeat: tuple[Service, int, dict[str, Any]], flagged: Counter[str]
) -> None:
    """Stale for another reason, its repeats are not asked to find it: flagged to recompute."""
    service, copy, _ = with_repeat
    changed = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    moved = service.client.put("/families/F1", json=changed, headers=service.headers("inspector"))
    assert moved.status_code == 200 and moved.json()["version"] == 2, moved.text
    flagged.clear()
    assert refresh_all(service).refreshed == {"record": 1}
    assert flagged == {"F1": 1}
    assert latest_version(service, "F1").model_versions[REPEATED_KEY] == str(copy)


def test_a_current_family_is_flagged_once_by_a_refresh_and_left_as_it_is(
    look_alikes: tuple[Service, dict[str, Any]], flagged: Counter[str]
) -> None:
    service, made = look_alikes
    assert refresh_all(service).refreshed == {}
    assert flagged == {"F1": 1}
    assert latest_version(service, "F1").version == made["version"]
