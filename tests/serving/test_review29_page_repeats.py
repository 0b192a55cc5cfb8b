"""A read of one family flags its photos once, its stale check included.

An assessment made before repeats were recorded is checked for them on each read
(assessment_repeats.repeated_now): where two of the family's photos are near, its photos are
flagged (photo_evidence.family_flags, each verified against the reuse index). The family page
and GET /families/{id}/assessments/latest check the latest assessment (is_current), then say
why it is stale (why_stale), each flagging the photos; where it is stale they are flagged
again under the family's lock and once more to recompute it. A request now flags them once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from serving.photo_evidence import REPEATED_KEY
from tests.serving.helpers import Service
from tests.serving.repeat_helpers import record_repeats
from tests.web.helpers import page_client


def _page(service: Service) -> None:
    shown = page_client(service, "commission").get("/ui/families/F1?lang=en")
    assert shown.status_code == 200, shown.text


def _latest(service: Service) -> dict[str, Any]:
    read = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    )
    assert read.status_code == 200, read.text
    return dict(read.json())


def _one(service: Service, assessment_id: int) -> dict[str, Any]:
    read = service.client.get(
        f"/assessments/{assessment_id}", headers=service.headers("commission")
    )
    assert read.status_code == 200, read.text
    return dict(read.json())


@pytest.mark.parametrize("read", [_page, _latest], ids=["page", "api_latest"])
def test_a_current_old_assessment_is_flagged_once_per_read(
    look_alikes: tuple[Service, dict[str, Any]],
    flagged: Counter[str],
    read: Callable[[Service], Any],
) -> None:
    service, made = look_alikes
    read(service)
    assert flagged == {"F1": 1}
    assert _latest(service)["version"] == made["version"]  # kept, not recomputed
    assert _one(service, made["assessment_id"])["stale_reason"] is None


@pytest.mark.parametrize("read", [_page, _latest], ids=["page", "api_latest"])
def test_a_stale_old_assessment_is_flagged_once_to_be_recomputed(
    with_repeat: tuple[Service, int, dict[str, Any]],
    flagged: Counter[str],
    read: Callable[[Service], Any],
) -> None:
    service, copy, made = with_repeat
    record_repeats(service, made["assessment_id"], None)  # it counted the copy as a photo
    flagged.clear()
    read(service)
    assert flagged == {"F1": 1}
    now = _latest(service)  # recomputed on the read, counting the copy once
    assert now["version"] == made["version"] + 1 and now["stale_reason"] is None
    assert now["model_versions"][REPEATED_KEY] == str(copy)


def test_one_version_read_by_id_is_flagged_once(
    look_alikes: tuple[Service, dict[str, Any]], flagged: Counter[str]
) -> None:
    """GET /assessments/{id} and the list of versions only say why it is stale: once each."""
    service, made = look_alikes
    assert _one(service, made["assessment_id"])["stale_reason"] is None
    assert flagged == {"F1": 1}
    listed = service.client.get("/families/F1/assessments", headers=service.headers("commission"))
    assert listed.status_code == 200, listed.text
    assert [v["stale_reason"] for v in listed.json()] == [None]
    assert flagged == {"F1": 2}
