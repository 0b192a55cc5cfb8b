"""Label Studio URLs and refusals, worded by their cause: a user name and password in the URL
are refused in the settings and never shown, logged or sent; a 403 for a valid token is the
account's missing permission, not a bad token; a 404 for a project is the project gone only
when Label Studio's list of projects, answering as Label Studio, no longer holds it (a proxy
that lost its route answers JSON 404 too): else the URL and the proxy are to be checked."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from annotation.client import (
    LabelStudioAnswerError,
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioUnreachableError,
    connect,
    without_userinfo,
)
from annotation.project import set_model_version
from annotation.settings import load_annotation_config
from shanyraq.errors import ConfigError
from tests.annotation.label_studio_helpers import LEGACY, FakeLabelStudio, read_task_ids

from .label_studio_server_helpers import free_port

SECRET = "s3cret-Pw"
FORBIDDEN = '{"detail": "You do not have permission to perform this action."}'


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://lead:{SECRET}@127.0.0.1:8080", "http://127.0.0.1:8080"),
        (f"https://lead:{SECRET}@ls.example.org/ls/", "https://ls.example.org/ls/"),
        ("http://lead:s3cret/P@w#x@ls.example.org:8080", "http://ls.example.org:8080"),
        (f"lead:{SECRET}@ls.example.org:8080", "ls.example.org:8080"),  # no scheme
        ("http://127.0.0.1:8080/ls", "http://127.0.0.1:8080/ls"),
    ],
)
def test_a_url_is_shown_without_its_user_name_and_password(url, shown):
    assert without_userinfo(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"http://lead:{SECRET}@127.0.0.1:8080",
        "http://lead:s3cret/Pw@127.0.0.1:8080",  # unescaped: httpx would read a port 's3cret'
        f"lead:{SECRET}@127.0.0.1:8080",  # no scheme
    ],
)
@pytest.mark.parametrize("where", ["file", "env"])
def test_credentials_in_the_url_are_refused_without_being_shown(tmp_path, monkeypatch, url, where):
    path = tmp_path / "annotation.yaml"
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    if where == "env":
        monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_URL", url)
        path.write_text("server:\n  url: http://127.0.0.1:8080\n", encoding="utf-8")
    else:
        path.write_text(f"server:\n  url: '{url}'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_annotation_config(path)
    message = caught.value.message
    assert "s3cret" not in message and "Pw" not in message
    assert "user name or password" in message and "SHANYRAQ_LABEL_STUDIO_TOKEN" in message
    assert ("SHANYRAQ_LABEL_STUDIO_URL" if where == "env" else "server.url") in message


def test_a_url_without_credentials_is_taken(tmp_path, monkeypatch):
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    path = tmp_path / "annotation.yaml"
    path.write_text("server:\n  url: http://127.0.0.1:8080/ls\n", encoding="utf-8")
    assert load_annotation_config(path).server.url == "http://127.0.0.1:8080/ls"


def test_an_unreachable_server_is_named_without_the_password():
    url = f"http://lead:{SECRET}@127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(LabelStudioUnreachableError) as caught:
        connect(url, LEGACY, timeout_s=5)
    assert SECRET not in caught.value.message
    assert "cannot reach Label Studio at http://127.0.0.1:" in caught.value.message


def test_credentials_in_the_url_are_neither_logged_nor_sent(fake_ls, caplog):
    caplog.set_level(logging.DEBUG)
    url = fake_ls.url.replace("http://", f"http://lead:{SECRET}@")
    conn = connect(url, LEGACY, timeout_s=5)
    assert conn.url == fake_ls.url
    assert SECRET not in caplog.text
    assert fake_ls.requests and all(auth == f"Token {LEGACY}" for _, _, auth in fake_ls.requests)


def test_a_403_for_a_valid_token_is_worded_as_missing_permission(fake_ls):
    fake_ls.tasks = [1, 2]
    fake_ls.on_tasks_page = lambda server, page: (403, FORBIDDEN)
    with pytest.raises(LabelStudioAuthError) as caught:
        read_task_ids(connect(fake_ls.url, LEGACY, timeout_s=5), page_size=4)
    message = caught.value.message
    assert "permission" in message and "do not have permission" in message
    assert "refused the token" not in message and "valid personal access token" not in message


def test_a_403_saying_the_request_was_not_signed_in_is_the_tokens(fake_ls):
    fake_ls.on_tasks_page = lambda server, page: (
        403,
        '{"detail": "Authentication credentials were not provided."}',
    )
    with pytest.raises(LabelStudioAuthError, match=r"refused the token.*SHANYRAQ_LABEL_STUDIO"):
        read_task_ids(connect(fake_ls.url, LEGACY, timeout_s=5), page_size=4)


def _projects_list(fake: FakeLabelStudio, monkeypatch, projects: list[int]) -> None:
    """Let the fake answer Label Studio's list of projects (filtered by `ids`) as Label Studio
    does, holding `projects`; every other request is answered as before (no project's own
    address among them: each answers JSON 404)."""
    answer = fake.answer

    def with_projects(method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        split = urlsplit(target)
        if method == "GET" and split.path == "/api/projects/" and fake.authorised(auth):
            asked = parse_qs(split.query).get("ids", [""])[0].split(",")
            rows = [{"id": p, "title": f"Project {p}"} for p in projects if str(p) in asked]
            return 200, json.dumps({"count": len(rows), "results": rows})
        return answer(method, target, auth, body)

    monkeypatch.setattr(fake, "answer", with_projects)


def _asked(fake: FakeLabelStudio, path: str) -> int:
    return sum(1 for _, target, _ in fake.requests if urlsplit(target).path == path)


def test_a_404_for_a_project_says_the_project_is_gone(fake_ls, monkeypatch):
    _projects_list(fake_ls, monkeypatch, projects=[])  # Label Studio's list: without project 7
    conn = connect(fake_ls.url, LEGACY, timeout_s=5)
    with pytest.raises(LabelStudioError) as caught, conn.errors("reading project 7"):
        conn.sdk.projects.get(7)  # the fake knows no project: 404 {"detail": "Not found."}
    message = caught.value.message
    assert "has no project 7" in message and "deleted" in message
    assert "annotate init" in message and "proxy" not in message
    assert _asked(fake_ls, "/api/projects/") == 1  # asked once, no retries


@pytest.mark.parametrize(
    "listed",
    [None, [7]],
    ids=["projects-list-404", "projects-list-holds-it"],
)
def test_a_404_for_a_project_label_studio_still_lists_or_not_as_itself_is_not_gone(
    fake_ls,
    monkeypatch,
    listed,
):
    """A proxy that lost the project's route (its list of projects still holds the project) or
    every route (the list answers JSON 404 too): the address is to be checked."""
    if listed is not None:
        _projects_list(fake_ls, monkeypatch, projects=listed)
    conn = connect(fake_ls.url, LEGACY, timeout_s=5)
    with pytest.raises(LabelStudioAnswerError) as caught, conn.errors("reading project 7"):
        conn.sdk.projects.get(7)
    message = caught.value.message
    assert "has no project" not in message and "annotate init" not in message
    assert f"did not answer as expected at {fake_ls.url}" in message
    assert "project 7" in message and "reading project 7" in message
    assert "SHANYRAQ_LABEL_STUDIO_URL" in message and "proxy" in message
    assert _asked(fake_ls, "/api/projects/") == 1  # asked once, no retries


def test_a_404_for_another_path_keeps_the_url_hint(fake_ls):
    conn = connect(fake_ls.url, LEGACY, timeout_s=5)
    with pytest.raises(LabelStudioError) as caught, conn.errors("reading a task"):
        conn.sdk.tasks.get(7)
    assert "proxy" in caught.value.message and "project" not in caught.value.message


def test_a_project_deleted_while_a_command_runs_is_named_as_gone(label_studio):
    conn = connect(label_studio.url, label_studio.legacy_token)
    with conn.errors("making a project"):
        project = conn.sdk.projects.create(title="Deleted while running")
        conn.sdk.projects.delete(project.id)
    with pytest.raises(LabelStudioError) as caught:
        set_model_version(conn, project.id, "model-1")
    message = caught.value.message
    assert f"has no project {project.id}" in message and "annotate init" in message
    assert "proxy" not in message
