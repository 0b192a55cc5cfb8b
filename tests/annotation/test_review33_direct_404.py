"""A project's own address answering JSON 404 to a direct request (reading its model version,
as `annotate pull` and `status` do), on the real Label Studio server, behind a reverse proxy or
not.

A proxy that lost its route answers {"detail": "Not found."} just as Label Studio does for a
deleted project, so that 404 alone must not send the annotator to make the project again: the
project is named gone only when Label Studio's list of projects, answering as Label Studio, no
longer holds it; otherwise the address and the proxy are to be checked.
"""

from __future__ import annotations

import pytest

from annotation.answers import project_model_version
from annotation.client import LabelStudioError, connect

from .label_studio_server_helpers import LabelStudioServer
from .project_helpers import Route, every_url, json_404_proxy, project_with_tasks, the_projects_urls


def _forwards_everything(path: str, query: dict[str, list[str]], project: int) -> bool:
    """A proxy that lost no route."""
    return False


@pytest.mark.parametrize(
    "lost", [the_projects_urls, every_url], ids=["project-routes", "every-route"]
)
def test_a_proxys_json_404_for_the_projects_address_is_not_taken_for_the_project_gone(
    label_studio: LabelStudioServer, lost: Route
):
    direct = connect(label_studio.url, label_studio.legacy_token)
    project_id, _ = project_with_tasks(direct, f"Read behind a proxy ({lost.__name__})", count=1)
    with json_404_proxy(label_studio.url, project_id, lost) as proxy:
        conn = connect(proxy.url, label_studio.legacy_token)
        proxy.routes_lost.set()
        with pytest.raises(LabelStudioError) as caught:
            project_model_version(conn, project_id)
    assert direct.sdk.projects.get(project_id).id == project_id  # never deleted
    message = caught.value.message
    assert "has no project" not in message and "annotate init" not in message
    assert "did not answer as expected" in message and proxy.url in message
    assert f"project {project_id}" in message and "reading the project's model version" in message
    assert "SHANYRAQ_LABEL_STUDIO_URL" in message and "proxy" in message


@pytest.mark.parametrize("through_a_proxy", [False, True], ids=["direct", "proxy-forwarding"])
def test_a_deleted_project_read_directly_is_still_named_as_gone(
    label_studio: LabelStudioServer, through_a_proxy: bool
):
    direct = connect(label_studio.url, label_studio.legacy_token)
    project_id, _ = project_with_tasks(direct, "Deleted before it is read", count=1)
    with direct.errors("deleting the project"):
        direct.sdk.projects.delete(project_id)
    with json_404_proxy(label_studio.url, project_id, _forwards_everything) as proxy:
        conn = connect(
            proxy.url if through_a_proxy else label_studio.url, label_studio.legacy_token
        )
        with pytest.raises(LabelStudioError) as caught:
            project_model_version(conn, project_id)
    message = caught.value.message
    assert f"has no project {project_id}" in message
    assert "reading the project's model version" in message
    assert "`shanyraq annotate init` makes the project again" in message
    assert "did not answer as expected" not in message and "proxy" not in message
