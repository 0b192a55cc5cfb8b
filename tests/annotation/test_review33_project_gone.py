"""A project's tasks listed through a reverse proxy that starts answering JSON 404 for the
project after the first page, on the real Label Studio server behind it.

The proxy's 404 reads like Label Studio's own ({"detail": "Not found."}), so the project's own
address answering 404 proves nothing: only Label Studio answering as itself, without the project,
shows the project gone. A project really deleted between two pages is still named as gone
(test_review32_project_gone.test_a_project_deleted_between_two_pages_is_named_as_gone).
"""

from __future__ import annotations

import pytest

from annotation.client import LabelStudioError, connect

from .conftest import LabelStudioServer
from .project_helpers import (
    PAGE,
    Route,
    every_url,
    json_404_proxy,
    project_with_tasks,
    the_projects_urls,
)


def _list_through_proxy(label_studio: LabelStudioServer, title: str, lost: Route) -> str:
    """The message of the error listing a fresh project's tasks through the proxy."""
    direct = connect(label_studio.url, label_studio.legacy_token)
    project_id, _ = project_with_tasks(direct, title)
    with json_404_proxy(label_studio.url, project_id, lost) as proxy:
        conn = connect(proxy.url, label_studio.legacy_token)
        read: list[int] = []
        with pytest.raises(LabelStudioError) as caught, conn.errors("listing the project's tasks"):
            for task in conn.sdk.tasks.list(project=project_id, page_size=PAGE):
                read.append(int(task.id))
    assert len(read) == PAGE  # nothing of the second page was handed on
    assert direct.sdk.projects.get(project_id).id == project_id  # never deleted
    message = caught.value.message
    assert proxy.url in message  # the address that answered so
    return message


@pytest.mark.parametrize(
    "lost", [the_projects_urls, every_url], ids=["project-routes", "every-route"]
)
def test_a_proxys_json_404_is_not_taken_for_the_project_gone(
    label_studio: LabelStudioServer, lost: Route
):
    message = _list_through_proxy(label_studio, f"Behind a proxy ({lost.__name__})", lost)
    assert "has no project" not in message and "annotate init" not in message
    assert "incomplete" in message
    assert "did not answer as expected" in message
    assert "SHANYRAQ_LABEL_STUDIO_URL" in message and "proxy" in message
