"""A project deleted while its tasks are listed, page by page, on the real Label Studio server.

The SDK asks for each page only once the items of the one before are taken (it pages lazily),
so a loop over the listing deletes between two pages with no hook into the SDK: the next page
is what the server answers after the deletion.
"""

from __future__ import annotations

import pytest

from annotation.client import Connection, LabelStudioError, connect

from .label_studio_server_helpers import LabelStudioServer
from .project_helpers import PAGE, project_with_tasks


def _list_and_meanwhile(conn: Connection, project_id: int, once_a_page_is_read) -> str:
    """List the project's tasks a page at a time, calling `once_a_page_is_read` with the ids of
    the first page before the second is asked for; the message of the error that follows."""
    read: list[int] = []
    with pytest.raises(LabelStudioError) as caught, conn.errors("listing the project's tasks"):
        for task in conn.sdk.tasks.list(project=project_id, page_size=PAGE):
            read.append(int(task.id))
            if len(read) == PAGE:
                once_a_page_is_read(read)
    assert len(read) == PAGE  # nothing of the second page was handed on
    return caught.value.message


def test_a_project_deleted_between_two_pages_is_named_as_gone(label_studio: LabelStudioServer):
    conn = connect(label_studio.url, label_studio.legacy_token)
    project_id, _ = project_with_tasks(conn, "Deleted between two pages")

    def delete_the_project(_read: list[int]) -> None:
        conn.sdk.projects.delete(project_id)

    message = _list_and_meanwhile(conn, project_id, delete_the_project)
    assert f"has no project {project_id}" in message
    assert "listing the project's tasks" in message
    assert "`shanyraq annotate init` makes the project again" in message
    assert "incomplete" not in message and "proxy" not in message


def test_a_list_cut_short_while_its_project_stays_is_still_incomplete(
    label_studio: LabelStudioServer,
):
    """Tasks deleted between two pages end the list early too (the second page is past the
    end now): that is a list to read again, not a project gone."""
    conn = connect(label_studio.url, label_studio.legacy_token)
    project_id, ids = project_with_tasks(conn, "Tasks deleted between two pages")

    def delete_the_unread_tasks(read: list[int]) -> None:
        for task_id in set(ids) - set(read):
            conn.sdk.tasks.delete(task_id)

    message = _list_and_meanwhile(conn, project_id, delete_the_unread_tasks)
    assert "the list is incomplete" in message and "run the command again" in message
    assert "has no project" not in message
    assert conn.sdk.projects.get(project_id).id == project_id  # the project is still there
