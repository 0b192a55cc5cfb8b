"""`assessments refresh` tells a family's repeats as the service does, whenever its photos came.

The command builds its own reuse index when it starts (serving.app.build_services), of the
photos filed by then. The service goes on filing photos meanwhile, into its own index; a copy
of a family's photo makes no reuse link (it is no reuse), so nothing the command reads says
that its index lacks the photo the copy repeats. Flagged against that index, the family's
copy counted as a photo of its own: an assessment counting it once was found stale and
replaced by one counting it twice, and a family recomputed on photos filed since the command
started was stored counting the copy twice. Both record their repeats, so reads never ask
again: they served it as current.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from serving import assessments_refresh
from serving.app import build_services, close_services
from serving.assessments_refresh import refresh
from serving.photo_evidence import REPEATED_KEY
from serving.reassessment import find_stale, resolve_refresh_actor
from serving.state import Services
from tests.serving.helpers import Service, criteria
from tests.serving.repeat_helpers import filed_photo, latest_version
from tests.serving.repeat_photos import COPIES, encoded
from tests.vision.reuse_helpers import look_alike

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def command(scored: Service) -> Iterator[Services]:
    """The services `shanyraq assessments refresh` builds on the service's settings, started
    now: its reuse index holds the photos filed so far, none filed after."""
    services = build_services(scored.services.settings)
    yield services
    close_services(services)


def refresh_all(services: Services) -> Any:
    with services.readers() as session:
        actor = resolve_refresh_actor(session, "admin_national", region=None)
    return refresh(services, actor=actor, progress=False)


def _file_room_and_copy(service: Service, room: bytes) -> int:
    """F1 files the room, a look-alike of another home and a copy of the room: the copy's id."""
    filed_photo(service, "F1", room)
    filed_photo(service, "F1", encoded(look_alike(6)))
    return filed_photo(service, "F1", COPIES["re-encoded"](room))


def test_an_assessment_counting_a_copy_filed_after_the_command_started_is_left_current(
    scored: Service, command: Services, room: bytes
) -> None:
    scored.create_family("F1")
    copy = _file_room_and_copy(scored, room)  # after the command started
    made = scored.assess("F1")
    assert made["model_versions"][REPEATED_KEY] == str(copy)

    assert find_stale(command) == []
    report = refresh_all(command)
    assert report.refreshed == {} and not report.failed
    kept = latest_version(scored, "F1")
    assert kept.version == made["version"]
    assert kept.model_versions[REPEATED_KEY] == str(copy)


def test_a_family_whose_photos_come_between_finding_and_recomputing_counts_its_copy_once(
    scored: Service, command: Services, room: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stale for its record when found; the room and its copy filed before its turn."""
    scored.create_family("F1")
    made = scored.assess("F1")
    changed = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    moved = scored.client.put("/families/F1", json=changed, headers=scored.headers("inspector"))
    assert moved.status_code == 200, moved.text
    real_find = assessments_refresh.find_stale
    filed: list[int] = []

    def found_then_filed(*args: Any, **kwargs: Any) -> Any:
        found = real_find(*args, **kwargs)
        filed.append(_file_room_and_copy(scored, room))
        return found

    monkeypatch.setattr(assessments_refresh, "find_stale", found_then_filed)
    report = refresh_all(command)
    assert report.refreshed == {"record": 1} and not report.failed
    now = latest_version(scored, "F1")
    assert now.version == made["version"] + 1
    assert now.model_versions[REPEATED_KEY] == str(filed[0])  # as a fresh assessment counts it
    assert now.result["photos"]["repeated"] == 1
    assert find_stale(scored.services) == []  # the service agrees: nothing to redo
