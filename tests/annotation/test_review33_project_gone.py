"""A project's tasks listed through a reverse proxy that starts answering JSON 404 for the
project after the first page, on the real Label Studio server behind it.

The proxy's 404 reads like Label Studio's own ({"detail": "Not found."}), so the project's own
address answering 404 proves nothing: only Label Studio answering as itself, without the project,
shows the project gone. A project really deleted between two pages is still named as gone
(test_review32_project_gone.test_a_project_deleted_between_two_pages_is_named_as_gone).
"""

from __future__ import annotations

import pytest

from .label_studio_server_helpers import LabelStudioServer
from .project_helpers import Route, every_url, list_through_proxy, the_projects_urls


@pytest.mark.parametrize(
    "lost", [the_projects_urls, every_url], ids=["project-routes", "every-route"]
)
def test_a_proxys_json_404_is_not_taken_for_the_project_gone(
    label_studio: LabelStudioServer, lost: Route
):
    message = list_through_proxy(label_studio, f"Behind a proxy ({lost.__name__})", lost)
    assert "has no project" not in message and "annotate init" not in message
    assert "incomplete" in message
    assert "did not answer as expected" in message
    assert "SHANYRAQ_LABEL_STUDIO_URL" in message and "proxy" in message
