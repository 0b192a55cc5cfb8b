"""A real Label Studio server for the annotation tests: where it is installed, the settings it
starts with, a free port, waiting for it and stopping it, and what the session's server gives
the tests (`LabelStudioServer`, the `label_studio` fixture of tests/annotation/conftest.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, document_root: Path) -> dict[str, str]:
    """The environment of a Label Studio server on SQLite in `data_dir`, serving local files
    from `document_root` only, with the test admin and its legacy token, SSRF protection on."""
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
    # One client for all the polls: each new one loads the CA certificates (25 ms of CPU).
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text()[-3000:]
                pytest.fail(f"Label Studio exited with {proc.returncode}:\n{tail}")
            try:
                if client.get(f"{url}/health").json().get("status") == "UP":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            # A poll interval, not a wait for readiness: the deadline bounds the loop.
            time.sleep(0.5)
    pytest.fail(f"Label Studio not ready after {deadline_s:.0f}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and its children (its own process group): TERM, then KILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
