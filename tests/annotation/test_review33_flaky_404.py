"""A flaky proxy in front of the real Label Studio server: it answers JSON 404 for the project
once ({"detail": "Not found."}, as Label Studio words its own), then forwards again.

Asked once more whether the project is there, Label Studio answers that it is, so the message
never names the project gone nor sends the annotator to make it again: it says what to do next
(run the command again; if it recurs, check the address and the proxy) and does not tell them
to drop a proxy they may need.
"""

from __future__ import annotations

import threading

import pytest

from annotation.answers import project_model_version
from annotation.client import LabelStudioError, connect

from .label_studio_server_helpers import LabelStudioServer
from .project_helpers import (
    json_404_proxy,
    list_through_proxy,
    project_with_tasks,
    the_projects_urls,
)


class _OnceLost:
    """A proxy route lost for a single request to the project (its own address or its tasks),
    then found again: `answered_404` counts the requests it answered 404, `forwarded` those to
    the project it forwarded after."""

    def __init__(self) -> None:
        self.answered_404 = self.forwarded = 0
        self._lock = threading.Lock()  # the proxy serves each request on its own thread

    def __call__(self, path: str, query: dict[str, list[str]], project: int) -> bool:
        if not the_projects_urls(path, query, project):
            return False
        with self._lock:
            if self.answered_404:
                self.forwarded += 1
                return False
            self.answered_404 += 1
            return True


def _assert_not_named_gone(message: str) -> None:
    assert "has no project" not in message and "annotate init" not in message
    assert "deleted" not in message
    assert "run the command again" in message


def test_a_projects_address_answering_404_once_is_to_be_run_again(
    label_studio: LabelStudioServer,
):
    direct = connect(label_studio.url, label_studio.legacy_token)
    project_id, _ = project_with_tasks(direct, "Read behind a flaky proxy", count=1)
    lost = _OnceLost()
    with json_404_proxy(label_studio.url, project_id, lost) as proxy:
        conn = connect(proxy.url, label_studio.legacy_token)
        proxy.routes_lost.set()
        with pytest.raises(LabelStudioError) as caught:
            project_model_version(conn, project_id)
        assert project_model_version(conn, project_id) == ""  # read again, it goes through
    # Its address answered 404 once; asked again (the check, then the read), it went through.
    assert (lost.answered_404, lost.forwarded) == (1, 2)
    assert direct.sdk.projects.get(project_id).id == project_id  # never deleted
    message = caught.value.message
    _assert_not_named_gone(message)
    assert proxy.url in message and "reading the project's model version" in message
    assert f"project {project_id} is there" in message
    # What to check if it recurs: the address, and that a proxy forwards; not "no proxy at all".
    assert "SHANYRAQ_LABEL_STUDIO_URL" in message and "proxy" in message
    assert "forwards every /api/ path" in message
    assert "not of a proxy" not in message


def test_a_listing_cut_short_by_a_404_once_is_incomplete_and_to_be_run_again(
    label_studio: LabelStudioServer,
):
    lost = _OnceLost()
    message = list_through_proxy(label_studio, "Listed behind a flaky proxy", lost)
    # The second page answered 404; the project's address, asked once, went through.
    assert (lost.answered_404, lost.forwarded) == (1, 1)
    _assert_not_named_gone(message)
    assert "listing the project's tasks" in message and "the list is incomplete" in message
    assert "not of a proxy" not in message
