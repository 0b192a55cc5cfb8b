"""A real Label Studio server for the annotation tests, started once per session.

SQLite in a temporary folder, a created admin with a legacy token (and a personal access
token made through the API), local-files serving restricted to a temporary document root,
SSRF protection on. Readiness is polled on /health with a deadline; the server is stopped
afterwards. Label Studio lives in its own virtualenv (scripts/labelstudio.sh).

Below it, the fixtures several annotation test modules share: a small pool of scored photos,
and a local server that answers as Label Studio does.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.annotation.label_studio_helpers import FakeLabelStudio

ROOT = Path(__file__).resolve().parents[2]
LS_VENV = Path(os.environ.get("LABEL_STUDIO_VENV", ROOT / ".venv-labelstudio"))
LS_BIN = LS_VENV / "bin" / "label-studio"
# An empty, migrated database cached by scripts/labelstudio.sh; without it the server migrates.
TEMPLATE_DB = LS_VENV / "template-db" / "label_studio.sqlite3"
READY_DEADLINE_S = 240.0
LEGACY_TOKEN = "shanyraq-test-legacy-token-0123456789"


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    legacy_token: str
    personal_token: str
    document_root: Path
    photos_dir: Path
    annotator_ids: tuple[int, ...]
    log: Path


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """`annotate init`'s lock files (annotation.local_lock) under a temporary cache folder, not
    the user's ~/.cache (they are removed after use, but a test cut short leaves one)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(data_dir: Path, document_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "DJANGO_DB": "sqlite",
            "LABEL_STUDIO_USERNAME": "admin@shanyraq.test",
            "LABEL_STUDIO_PASSWORD": "not-a-real-password-42",
            "LABEL_STUDIO_USER_TOKEN": LEGACY_TOKEN,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
            "SSRF_PROTECTION_ENABLED": "true",
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "HOME": str(data_dir),
        }
    )
    return env


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, deadline_s: float) -> None:
    """Poll /health until it answers UP; fail with the log's tail if the server dies or hangs."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Label Studio exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).json().get("status") == "UP":
                return
        except (httpx.HTTPError, ValueError):
            pass
        # A poll interval, not a wait for readiness: the deadline bounds the loop.
        time.sleep(0.5)
    pytest.fail(f"Label Studio not ready after {deadline_s:.0f}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


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
            env=_server_env(data_dir, document_root),
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
        _stop(proc)


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
