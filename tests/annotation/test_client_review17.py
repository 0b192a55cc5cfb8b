"""The Label Studio client against a tiny local server that answers as Label Studio does
(review 17): paging edges, tokens of both kinds, a path prefix, errors and timeouts."""

from __future__ import annotations

import threading
import time

import pytest

from annotation.client import (
    LabelStudioAnswerError,
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioUnreachableError,
    connect,
)
from tests.annotation.label_studio_helpers import (
    LEGACY,
    FakeLabelStudio,
    jwt_token,
    listed_task_ids,
    read_task_ids,
)

PROXY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


# --- paging edges ---


@pytest.mark.parametrize("n_tasks", [0, 1, 4, 5, 8, 9])  # empty, a page, a page plus one
def test_every_task_is_read_once_at_page_size_edges(fake_ls, n_tasks):
    fake_ls.tasks = list(range(1, n_tasks + 1))
    assert listed_task_ids(fake_ls, page_size=4) == fake_ls.tasks


def test_a_task_added_while_paging_is_read_and_nothing_is_lost(fake_ls):
    fake_ls.tasks = list(range(1, 9))

    def add_after_page_one(server: FakeLabelStudio, page: int) -> None:
        if page == 2 and 9 not in server.tasks:
            server.tasks.append(9)  # new tasks get the next id: they come last

    fake_ls.on_tasks_page = add_after_page_one
    assert listed_task_ids(fake_ls, page_size=4) == list(range(1, 10))


def test_a_task_deleted_while_paging_is_an_error_not_a_task_silently_skipped(fake_ls):
    fake_ls.tasks = list(range(1, 9))

    def delete_after_page_one(server: FakeLabelStudio, page: int) -> None:
        if page == 2 and 1 in server.tasks:
            server.tasks.remove(1)  # task 5 moves onto page 1: page 2 is now 6..8

    fake_ls.on_tasks_page = delete_after_page_one
    with pytest.raises(LabelStudioError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    message = caught.value.message
    assert "changed while it was read" in message and "run the command again" in message
    assert "\n" not in message


def test_a_listing_cut_short_by_a_404_is_an_error_not_a_short_list(fake_ls):
    fake_ls.tasks = list(range(1, 9))
    fake_ls.on_tasks_page = lambda server, page: (
        (404, '{"detail": "Not found."}') if page == 2 else None
    )  # e.g. a proxy that lost its route: the SDK takes any 404 for the end
    with pytest.raises(LabelStudioError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    # This fake serves no project and no list of projects: asked after the 404 whether project 1
    # is there, it answers JSON 404 for both, as a proxy that lost its route would, so nothing
    # shows the project gone: the list is incomplete, and the address is to be checked.
    message = caught.value.message
    assert "has no project" not in message
    assert "incomplete" in message and "did not answer as expected" in message


# --- tokens ---


def test_a_legacy_token_is_sent_as_token_and_a_personal_one_as_bearer(fake_ls):
    connect(fake_ls.url, LEGACY, timeout_s=5)
    assert fake_ls.requests[-1][2] == f"Token {LEGACY}"
    fake_ls.requests.clear()
    conn = connect(fake_ls.url, fake_ls.personal_token, timeout_s=5)
    assert conn.token_kind == "personal_access_token"
    refresh, whoami = fake_ls.requests
    assert refresh[:2] == ("POST", "/api/token/refresh/")
    assert whoami[2].startswith("Bearer ") and fake_ls.personal_token not in whoami[2]


def test_an_access_token_that_expires_mid_run_is_refreshed(fake_ls):
    fake_ls.tasks = list(range(1, 6))
    fake_ls.access_lifetime_s = -1  # each access token is already expired when next used
    conn = connect(fake_ls.url, fake_ls.personal_token, timeout_s=5)
    assert read_task_ids(conn, page_size=2) == fake_ls.tasks
    refreshes = [r for r in fake_ls.requests if r[0] == "POST"]
    assert len(refreshes) >= 4  # connect, then before each of the three pages


def test_a_personal_token_revoked_mid_run_is_a_clear_auth_error(fake_ls):
    fake_ls.tasks = list(range(1, 6))
    fake_ls.access_lifetime_s = -1
    conn = connect(fake_ls.url, fake_ls.personal_token, timeout_s=5)
    fake_ls.personal_token = "revoked"
    with pytest.raises(LabelStudioAuthError) as caught:
        read_task_ids(conn, page_size=2)
    assert "SHANYRAQ_LABEL_STUDIO_TOKEN" in caught.value.message


def test_an_expired_personal_token_is_refused_before_any_request(fake_ls):
    with pytest.raises(LabelStudioAuthError):
        connect(fake_ls.url, jwt_token("refresh", expires_in_s=-60), timeout_s=5)
    assert fake_ls.requests == []


@pytest.mark.parametrize("status", [200, 502])
def test_a_proxy_page_instead_of_a_token_refresh_is_one_clear_error(fake_ls, status):
    fake_ls.refresh_answer = (status, PROXY_PAGE)
    with pytest.raises(LabelStudioAnswerError) as caught:  # was a JSONDecodeError traceback
        connect(fake_ls.url, fake_ls.personal_token, timeout_s=5)
    assert fake_ls.url in caught.value.message and "\n" not in caught.value.message


def test_a_wrong_legacy_token_is_a_clear_auth_error(fake_ls):
    with pytest.raises(LabelStudioAuthError) as caught:
        connect(fake_ls.url, "f" * 40, timeout_s=5)
    assert "refused the token" in caught.value.message


# --- URL forms ---


@pytest.mark.parametrize("token_kind", ["legacy", "personal"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_label_studio_behind_a_path_prefix_works_with_both_tokens(fake_ls, token_kind, slash):
    fake_ls.prefix = "/ls"
    fake_ls.tasks = list(range(1, 4))
    token = LEGACY if token_kind == "legacy" else fake_ls.personal_token
    conn = connect(f"{fake_ls.url}/ls{slash}", token, timeout_s=5)
    assert conn.url == f"{fake_ls.url}/ls"
    assert read_task_ids(conn, page_size=2) == [1, 2, 3]
    assert all(path.startswith("/ls/api/") for _, path, _ in fake_ls.requests)


# --- a server that fails ---


def test_a_5xx_mid_pull_is_one_clear_error_saying_to_run_again(fake_ls):
    fake_ls.tasks = list(range(1, 9))
    fake_ls.on_tasks_page = lambda server, page: (
        (500, '{"detail": "A server error occurred."}') if page == 2 else None
    )
    with pytest.raises(LabelStudioError) as caught:
        listed_task_ids(fake_ls, page_size=4)
    message = caught.value.message
    assert "500" in message and "run the command again" in message and "\n" not in message
    assert sum(1 for _, path, _ in fake_ls.requests if "page=2" in path) == 3  # SDK retries


def test_a_server_that_is_down_is_a_clear_error():
    with pytest.raises(LabelStudioUnreachableError) as caught:
        connect("http://127.0.0.1:9", LEGACY, timeout_s=2)
    assert "cannot reach" in caught.value.message


def test_a_hung_server_times_out_instead_of_hanging(fake_ls):
    fake_ls.hang = threading.Event()
    started = time.monotonic()
    with pytest.raises(LabelStudioUnreachableError) as caught:
        connect(fake_ls.url, LEGACY, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert "ReadTimeout" in caught.value.message
