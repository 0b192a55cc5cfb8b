"""A real Label Studio server for the annotation tests, started once per session.

SQLite in a temporary folder, a created admin with a legacy token (and a personal access
token made through the API), local-files serving restricted to a temporary document root,
SSRF protection on. Readiness is polled on /health with a deadline; the server is stopped
afterwards. Label Studio lives in its own virtualenv (scripts/labelstudio.sh); where, and how
it is started and stopped, is in label_studio_server_helpers.py.

Below it, the fixtures several annotation test modules share: a small pool of scored photos,
and a local server that answers as Label Studio does.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.annotation.label_studio_server_helpers import (
    LEGACY_TOKEN,
    LS_BIN,
    READY_DEADLINE_S,
    TEMPLATE_DB,
    LabelStudioServer,
    free_port,
    server_env,
    stop,
    wait_ready,
)

if TYPE_CHECKING:
    from tests.annotation.label_studio_helpers import FakeLabelStudio


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """`annotate init`'s lock files (annotation.local_lock) under a temporary cache folder, not
    the user's ~/.cache (they are removed after use, but a test cut short leaves one)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


def _make_annotators(url: str, count: int) -> tuple[int, ...]:
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=url, api_key=LEGACY_TOKEN)
    ids = []
    for i in range(count):
        user = client.users.create(email=f"annotator{i}@shanyraq.test", username=f"annotator{i}")
        ids.append(int(user.id))
    return tuple(ids)


def _personal_token(url: str) -> str:
    from label_studio_sdk import LabelStudio

    return str(LabelStudio(base_url=url, api_key=LEGACY_TOKEN).tokens.create().token)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    if not LS_BIN.exists():
        pytest.skip(f"Label Studio is not installed at {LS_BIN}; run scripts/labelstudio.sh")
    base = tmp_path_factory.mktemp("label-studio")
    data_dir, document_root = base / "data", base / "docroot"
    photos_dir = document_root / "photos"
    photos_dir.mkdir(parents=True)
    data_dir.mkdir()
    if TEMPLATE_DB.exists():
        shutil.copyfile(TEMPLATE_DB, data_dir / TEMPLATE_DB.name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = base / "server.log"
    command = [
        str(LS_BIN),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=server_env(data_dir, document_root),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=base,
            start_new_session=True,  # its own process group, so stopping it stops its children
        )
    try:
        wait_ready(url, proc, log, READY_DEADLINE_S)
        yield LabelStudioServer(
            url=url,
            legacy_token=LEGACY_TOKEN,
            personal_token=_personal_token(url),
            document_root=document_root,
            photos_dir=photos_dir,
            annotator_ids=_make_annotators(url, 3),
            log=log,
        )
    finally:
        stop(proc)


# --- fixtures several test modules share ---------------------------------------------------


@pytest.fixture
def pool(tmp_path: Path, taxonomy) -> tuple[Path, Path]:
    """Four unlabelled photos (manifest.csv) and their scores (scores.jsonl)."""
    from annotation.label_config import PhotoLabels
    from annotation.scoring import write_scores
    from tests.annotation.helpers import make_manifest, score_for

    manifest = tmp_path / "manifest.csv"
    rows = make_manifest(tmp_path / "photos", manifest, 4, prefix="pool")
    scores = tmp_path / "scores.jsonl"
    guess = PhotoLabels("kitchen", 3, frozenset())
    write_scores(scores, [score_for(r.sha256, guess, taxonomy, seed=i) for i, r in enumerate(rows)])
    return manifest, scores


@pytest.fixture
def fake_ls(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLabelStudio]:
    """The small local server that answers as Label Studio does (label_studio_helpers), with a
    personal access token, the SDK's retry backoff off; a request it holds open is let go."""
    from label_studio_sdk.core import http_client

    from tests.annotation.label_studio_helpers import FakeLabelStudio, jwt_token, running

    monkeypatch.setattr(http_client, "INITIAL_RETRY_DELAY_SECONDS", 0.0)  # the SDK's backoff
    server = FakeLabelStudio(personal_token=jwt_token("refresh", expires_in_s=3600))
    with running(server):
        try:
            yield server
        finally:
            if server.hang is not None:  # a request held open would keep shutdown waiting
                server.hang.set()
