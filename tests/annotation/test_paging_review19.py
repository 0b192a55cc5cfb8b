"""Label Studio list paging guards (review 19): a page of another list's shape, an empty
first page of a list that has items, the same item read twice, tasks of another project, a
redirect that drops the page number. Against review 17's fake Label Studio, which here can
also redirect."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from label_studio_sdk.core import http_client

from annotation.client import LabelStudioAnswerError, LabelStudioError
from annotation.paging import UnexpectedAnswer, page_items
from tests.annotation.label_studio_helpers import FakeLabelStudio, listed_task_ids, running

REDIRECT = 302  # an answer (REDIRECT, location) is sent as a redirect to location (running)
Answer = tuple[int, str] | None


@pytest.fixture
def fake_ls(monkeypatch) -> Iterator[FakeLabelStudio]:
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)
    server = FakeLabelStudio()
    with running(server):
        yield server


def _rows(ids: list[int], project: int | None = None) -> list[dict[str, object]]:
    extra = {} if project is None else {"project": project}
    return [{"id": i, "data": {"image": f"/p/{i}.jpg"}, **extra} for i in ids]


def _pages(
    rows: list[dict[str, object]], total: int, *, size: int = 4, key: str = "tasks"
) -> Callable[[FakeLabelStudio, int], Answer]:
    """Answers `rows` `size` a page, each page saying `total` (404 past the last, as LS)."""

    def answer(server: FakeLabelStudio, page: int) -> Answer:
        chunk = rows[(page - 1) * size : page * size]
        if page > 1 and not chunk:
            return 404, '{"detail": "Invalid page."}'
        return 200, json.dumps({key: chunk, ("total" if key == "tasks" else "count"): total})

    return answer


def test_a_tasks_page_in_the_projects_shape_is_refused_not_read_as_no_tasks(fake_ls):
    # The SDK reads `tasks` of /api/tasks/: a `results` page was let through, read as empty.
    fake_ls.on_tasks_page = _pages(_rows([1, 2, 3]), 3, key="results")
    with pytest.raises(LabelStudioAnswerError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    assert "no list of items (tasks)" in caught.value.message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"tasks": [{"id": 1, "title": "x"}], "total": 1}, "/api/projects/"),
        ({"results": [{"id": 1, "data": {}}], "count": 1}, "/ls/api/tasks/"),
    ],
)
def test_a_page_in_the_other_list_shape_is_refused(body, path):
    with pytest.raises(UnexpectedAnswer, match="no list of items"):
        page_items(body, path)


def test_an_empty_first_page_of_a_list_that_says_it_has_items_is_incomplete(fake_ls):
    fake_ls.on_tasks_page = lambda server, page: (200, json.dumps({"tasks": [], "total": 3}))
    with pytest.raises(LabelStudioError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    assert "after 0 of the 3 item(s)" in caught.value.message


@pytest.mark.parametrize(
    "ids",
    [
        [1, 2, 3, 4, 4, 5, 6, 7],  # task 4 on pages 1 and 2
        [1, 2, 4, 4, 5, 6, 7],  # twice on page 1
    ],
)
def test_a_task_listed_twice_is_an_error_not_read_twice(fake_ls, ids):
    # A server whose rows repeat a task (a join) while its total counts tasks: read as 4, 4.
    fake_ls.on_tasks_page = _pages(_rows(ids), total=len(set(ids)))
    with pytest.raises(LabelStudioError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    message = caught.value.message
    assert "item(s) 4 again" in message and "run the command again" in message


def test_tasks_of_another_project_are_refused(fake_ls):
    # A server that ignores the project filter lists every project's tasks.
    fake_ls.on_tasks_page = _pages(_rows([1], project=1) + _rows([2], project=5), 2)
    with pytest.raises(LabelStudioAnswerError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    assert "task 2 of project 5" in caught.value.message


def test_tasks_of_the_project_asked_for_are_read(fake_ls):
    fake_ls.on_tasks_page = _pages(_rows([1, 2, 3, 4, 5], project=1), 5)
    assert listed_task_ids(fake_ls, page_size=4) == [1, 2, 3, 4, 5]


def test_a_redirect_that_drops_the_page_number_does_not_page_forever(fake_ls):
    fake_ls.tasks = [1, 2, 3]

    def back_to_the_start(server: FakeLabelStudio, page: int) -> Answer:
        if len(server.requests) > 20:  # the test's own bound: the guard should stop it first
            return 404, '{"detail": "Invalid page."}'
        return (REDIRECT, "/api/tasks/?project=1") if page > 1 else None

    fake_ls.on_tasks_page = back_to_the_start
    with pytest.raises(LabelStudioAnswerError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    assert "does not page" in caught.value.message
    assert len(fake_ls.requests) <= 5  # whoami, page 1, page 2 and where it led


def test_a_redirect_that_keeps_the_page_number_reads_every_task(fake_ls):
    fake_ls.tasks = list(range(1, 10))

    def moved(server: FakeLabelStudio, page: int) -> Answer:
        asked = server.requests[-1][1]
        return None if "moved=1" in asked else (REDIRECT, asked + "&moved=1")

    fake_ls.on_tasks_page = moved
    assert listed_task_ids(fake_ls, page_size=4) == fake_ls.tasks
    assert sum("moved=1" in path for _, path, _ in fake_ls.requests) == 4  # pages 1-3, 404


@pytest.mark.parametrize(
    "failure",
    [httpx.TooManyRedirects("Exceeded maximum allowed redirects."),
     httpx.DecodingError("Error -3 while decompressing data")],
    ids=["redirect-loop", "bad-gzip"],
)  # fmt: skip
def test_a_redirect_loop_or_an_undecodable_body_is_one_clear_error(failure):
    # Neither is an httpx.TransportError: before, either surfaced as a traceback.
    from annotation.client import LabelStudioAnswerError, api_errors

    refused = pytest.raises(LabelStudioAnswerError, match=type(failure).__name__)
    with refused, api_errors("listing tasks", url="http://127.0.0.1:1"):
        raise failure
