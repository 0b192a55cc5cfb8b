"""Review 19: damaged photos when a manifest is scored for `annotate select/push --model`, and
Label Studio access tokens refused mid-run although they have not expired by our clock."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import numpy as np
import pytest
from label_studio_sdk.core import http_client

import vision.engine
from annotation.client import (
    NO_RETRIES,
    Connection,
    LabelStudioAuthError,
    LabelStudioError,
    connect,
)
from annotation.label_config import PhotoLabels
from annotation.scoring import score_manifest
from shanyraq.errors import ImageError
from shanyraq.manifest import read_manifest
from tests.annotation.label_studio_helpers import (
    LEGACY,
    FakeLabelStudio,
    jwt_token,
    read_task_ids,
    running,
)
from tests.refusals import must_not_run

from .helpers import make_manifest, score_for

# --- scoring a manifest with damaged photos ---


class FakeEngine:
    """Stands in for the photo model: records the photos it was given to score."""

    model_version = "test-model-1"

    def __init__(self, taxonomy: Any) -> None:
        self.taxonomy = taxonomy
        self.scored: list[str] = []
        self.config = SimpleNamespace(decode_side_for=lambda size: size)
        self.artifact = SimpleNamespace(preprocessing=SimpleNamespace(size=32))

    def score(self, images: list[np.ndarray], *, sha256s: list[str]) -> list[Any]:
        assert len(images) == len(sha256s) and all(i.ndim == 3 for i in images)
        self.scored += sha256s
        labels = PhotoLabels(room=None, condition=None, signs=None)
        return [score_for(sha, labels, self.taxonomy) for sha in sha256s]


@pytest.fixture
def engine(monkeypatch, taxonomy) -> FakeEngine:
    fake = FakeEngine(taxonomy)
    monkeypatch.setattr(vision.engine.Engine, "load", lambda *a, **k: fake)
    return fake


def _manifest(tmp_path: Path, n: int) -> Path:
    manifest = tmp_path / "data" / "manifest.csv"
    make_manifest(tmp_path / "data", manifest, n, prefix="m")
    return manifest


def _damage(manifest: Path, row: int) -> str:
    """Cut the photo of manifest row `row` in half; its row path."""
    path = read_manifest(manifest).rows[row].path
    photo = manifest.parent / path
    data = photo.read_bytes()
    photo.write_bytes(data[: len(data) // 2])
    return path


def test_damaged_photos_are_named_together_with_what_to_do(tmp_path, engine):
    manifest = _manifest(tmp_path, 5)
    damaged = [_damage(manifest, 1), _damage(manifest, 3)]
    data = read_manifest(manifest)
    with pytest.raises(ImageError) as caught:
        score_manifest(data, tmp_path / "model", batch_size=2)
    message = caught.value.message
    assert message.startswith("2 photo(s) of the manifest cannot be read")
    for path in damaged:
        assert f"row {path!r} ({data.root / path}: the JPEG " in message
    assert "replace each file or remove its row" in message
    assert "upload the photo again" not in message  # the advice for an inspector's upload
    # Every photo was tried: the run found both, not only the first.
    readable = [r.sha256 for i, r in enumerate(data.rows) if i not in (1, 3)]
    assert engine.scored == readable


def test_missing_photos_are_refused_before_the_model_is_loaded(tmp_path, monkeypatch):
    manifest = _manifest(tmp_path, 3)
    data = read_manifest(manifest)
    (data.root / data.rows[2].path).unlink()
    (data.root / data.rows[0].path).unlink()
    (data.root / data.rows[0].path).mkdir()  # a folder where the photo was
    monkeypatch.setattr(vision.engine.Engine, "load", must_not_run("Engine.load"))
    with pytest.raises(ImageError) as caught:
        score_manifest(data, tmp_path / "model")
    message = caught.value.message
    assert message.startswith("2 photo(s)")
    assert repr(data.rows[0].path) in message and repr(data.rows[2].path) in message


def test_many_damaged_photos_name_the_first_and_log_the_rest(tmp_path, engine, caplog):
    manifest = _manifest(tmp_path, 8)
    damaged = [_damage(manifest, i) for i in range(7)]
    with (
        caplog.at_level(logging.WARNING, logger="annotation.scoring"),
        pytest.raises(ImageError) as caught,
    ):
        score_manifest(read_manifest(manifest), tmp_path / "model", batch_size=3)
    message = caught.value.message
    assert "7 photo(s)" in message and "(the other 1 were scored" in message
    assert "and 2 more, logged above" in message
    assert all(repr(p) in message for p in damaged[:5])
    assert all(repr(p) not in message and repr(p) in caplog.text for p in damaged[5:])


# --- access tokens refused by a server whose clock runs ahead ---


@dataclass
class ClockedLabelStudio(FakeLabelStudio):
    """FakeLabelStudio that checks access tokens by its own clock, `ahead_s` ahead of ours,
    as Label Studio does (issuing each for `access_lifetime_s` of its time); it also imports
    tasks into project 1, recording each batch."""

    ahead_s: float = 0.0
    refused: int = 0  # requests answered 401
    imported: list[list[dict[str, Any]]] = field(default_factory=list)

    def authorised(self, auth: str) -> bool:
        if auth.startswith("Bearer "):
            claims = jwt.decode(auth[7:], options={"verify_signature": False})
            if claims["exp"] <= time.time() + self.ahead_s:
                return False
        return super().authorised(auth)

    def answer(self, method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        if method == "POST" and target.startswith("/api/projects/1/import"):
            if not self.authorised(auth):
                status, text = 401, '{"detail": "Given token not valid for any token type"}'
            else:
                self.imported.append(json.loads(body))
                first = sum(map(len, self.imported[:-1])) + 1
                ids = list(range(first, first + len(self.imported[-1])))
                status, text = 201, json.dumps({"task_count": len(ids), "task_ids": ids})
        else:
            lifetime = self.access_lifetime_s
            self.access_lifetime_s = lifetime + self.ahead_s  # by the server's clock
            try:
                status, text = super().answer(method, target, auth, body)
            finally:
                self.access_lifetime_s = lifetime
        self.refused += status == 401
        return status, text

    def clock_jumps(self) -> None:
        """The server's clock passes the expiry of every access token given so far."""
        self.ahead_s += self.access_lifetime_s + 60


@pytest.fixture
def clocked_ls(monkeypatch) -> Iterator[ClockedLabelStudio]:
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)
    server = ClockedLabelStudio(personal_token=jwt_token("refresh", expires_in_s=3600))
    with running(server):
        yield server


def _refreshes(server: FakeLabelStudio) -> int:
    return sum(path.endswith("/api/token/refresh/") for _, path, _ in server.requests)


def _jump_at_page(page_wanted: int, *, revoke: bool = False, renewal: Any = None) -> Any:
    def hook(server: ClockedLabelStudio, page: int) -> None:
        if page == page_wanted and server.ahead_s == 0:
            server.clock_jumps()
            if revoke:
                server.personal_token = "revoked"
            server.refresh_answer = renewal

    return hook


def test_an_access_token_refused_mid_listing_is_renewed_and_the_page_read_again(clocked_ls):
    clocked_ls.tasks = list(range(1, 10))
    clocked_ls.on_tasks_page = _jump_at_page(2)
    conn = connect(clocked_ls.url, clocked_ls.personal_token, timeout_s=5)
    assert read_task_ids(conn, page_size=2) == clocked_ls.tasks  # was a 401 read as a wrong token
    # Page 3 was refused once and read again; after it, the new token went on every request.
    assert clocked_ls.refused == 1 and _refreshes(clocked_ls) == 2
    pages = [path for _, path, _ in clocked_ls.requests if "/api/tasks/" in path]
    assert sum("page=3" in p for p in pages) == 2 and sum("page=4" in p for p in pages) == 1


def _import(conn: Connection, batch: list[dict[str, Any]]) -> list[int]:
    with conn.errors("importing tasks"):
        answer = conn.sdk.projects.import_tasks(
            1, request=batch, return_task_ids=True, request_options=NO_RETRIES
        )
    return list(answer.task_ids or [])


def test_an_import_refused_mid_push_is_sent_again_once_whole(clocked_ls):
    conn = connect(clocked_ls.url, clocked_ls.personal_token, timeout_s=5)
    first = [{"data": {"image": f"/p/{i}.jpg", "sha256": str(i)}} for i in range(3)]
    second = [{"data": {"image": f"/p/{i}.jpg", "sha256": str(i)}} for i in range(3, 5)]
    assert _import(conn, first) == [1, 2, 3]
    clocked_ls.clock_jumps()
    assert _import(conn, second) == [4, 5]  # was a LabelStudioAuthError mid-push
    assert clocked_ls.imported == [first, second] and clocked_ls.refused == 1


def test_a_personal_token_revoked_when_its_access_token_is_refused_is_an_auth_error(clocked_ls):
    clocked_ls.tasks = list(range(1, 10))
    clocked_ls.on_tasks_page = _jump_at_page(2, revoke=True)
    conn = connect(clocked_ls.url, clocked_ls.personal_token, timeout_s=5)
    with pytest.raises(LabelStudioAuthError) as caught:
        read_task_ids(conn, page_size=2)
    message = caught.value.message
    assert "Token is invalid or expired" in message and "SHANYRAQ_LABEL_STUDIO_TOKEN" in message


def test_a_renewal_that_fails_mid_listing_is_an_error_not_a_short_list(clocked_ls):
    clocked_ls.tasks = list(range(1, 10))
    renewal = (404, "<html><title>Not Found</title></html>")  # a proxy that lost the route
    clocked_ls.on_tasks_page = _jump_at_page(2, renewal=renewal)
    conn = connect(clocked_ls.url, clocked_ls.personal_token, timeout_s=5)
    with pytest.raises(LabelStudioError) as caught:  # the SDK takes a 404 for the list's end
        read_task_ids(conn, page_size=2)
    assert not isinstance(caught.value, LabelStudioAuthError)
    assert "renewing the access token was answered 404 (Not Found)" in caught.value.message


def test_a_renewal_without_a_token_is_one_clear_error(clocked_ls):
    clocked_ls.tasks = list(range(1, 10))
    clocked_ls.on_tasks_page = _jump_at_page(2, renewal=(200, '{"detail": "ok"}'))
    conn = connect(clocked_ls.url, clocked_ls.personal_token, timeout_s=5)
    with pytest.raises(LabelStudioError) as caught:
        read_task_ids(conn, page_size=2)
    assert "renewing the access token gave no token" in caught.value.message


def test_a_refused_legacy_token_is_not_renewed(clocked_ls):
    clocked_ls.tasks = list(range(1, 10))
    conn = connect(clocked_ls.url, LEGACY, timeout_s=5)
    clocked_ls.on_tasks_page = lambda server, page: (
        (401, '{"detail": "Invalid token."}') if page == 2 else None
    )
    with pytest.raises(LabelStudioAuthError):
        read_task_ids(conn, page_size=2)
    assert _refreshes(clocked_ls) == 0


@pytest.mark.parametrize(
    "not_found", ['{"detail": "Not found."}', "<html><title>Not Found</title></html>"]
)
def test_the_sdks_own_renewal_failing_mid_listing_is_an_error_not_a_short_list(
    monkeypatch, not_found
):
    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)
    server = FakeLabelStudio(personal_token=jwt_token("refresh", expires_in_s=3600))
    server.tasks = list(range(1, 10))
    server.access_lifetime_s = -1  # the SDK renews before every request, by its own clock

    def proxy_loses_the_route(server: FakeLabelStudio, page: int) -> None:
        if page == 2:
            server.refresh_answer = (404, not_found)

    server.on_tasks_page = proxy_loses_the_route
    with running(server):
        conn = connect(server.url, server.personal_token, timeout_s=5)
        # A JSON 404 was taken for the list's end: the first 4 tasks, as if all.
        with pytest.raises(LabelStudioError) as caught:
            read_task_ids(conn, page_size=2)
    assert "renewing the access token was answered 404" in caught.value.message


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_label_studio_refusing_an_unexpired_access_token_is_renewed(label_studio):
    conn = connect(label_studio.url, label_studio.personal_token, timeout_s=30)
    # An access token our clock takes for valid, which the server refuses (not its signature),
    # as it refuses one expired by its clock: put where the SDK keeps its access token.
    claims = jwt.decode(
        conn.sdk._client_wrapper._tokens_client.api_key, options={"verify_signature": False}
    )
    forged = jwt.encode(claims, "not-the-servers-signing-key-0123456789", algorithm="HS256")
    conn.sdk._client_wrapper._tokens_client._set_access_token(forged)
    for _ in range(2):  # renewed, then the new token stands in for the refused one
        with conn.errors("asking who we are"):  # was a 401 read as a wrong token
            assert conn.sdk.users.whoami().email == "admin@shanyraq.test"
