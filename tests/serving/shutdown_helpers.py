"""Helpers of the shutdown tests: `serve` started with its photo model's calls held until a test
releases them, a photo upload sent to it from a thread, and a wait on a condition bounded by
BOUND_S."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.helpers import family_body, jpeg, started
from tests.serving.subprocess_runs import start_serve

BOUND_S = 60.0  # every wait below; each ends within seconds


HELD_BOUND_S = 120  # how long the held model call waits for its release (the process exits first)


# `serve`'s sitecustomize.py (Python imports it at start from PYTHONPATH; start_serve keeps the
# environment): its photo model's calls are held until `release` exists in the folder, and
# say so by making `called` there.
HELD_MODEL = """
import pathlib, time
from vision.engine import Engine

_folder = pathlib.Path({folder!r})
_score_inputs = Engine.score_inputs

def _held(self, *args, **kwargs):
    (_folder / "called").touch()
    for _ in range({bound} * 10):  # bounded; a daemon thread does not hold the exit
        if (_folder / "release").exists():
            break
        time.sleep(0.1)
    return _score_inputs(self, *args, **kwargs)

Engine.score_inputs = _held
"""


def serve_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: Path, **settings: Any
) -> tuple[Any, int, str]:
    """`serve` on a family and users made beforehand, its `model` held (`HELD_MODEL`): (the
    process, its port, the inspector's token)."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    with started(tmp_path, url) as service:  # no model needed to file the family
        answer = service.client.post(
            "/families", json=family_body("F1"), headers=service.headers("inspector")
        )
        assert answer.status_code == 201, answer.text
        token = service.tokens["inspector"]
    site = tmp_path / "site"
    site.mkdir()
    held = HELD_MODEL.format(folder=str(tmp_path), bound=HELD_BOUND_S)
    (site / "sitecustomize.py").write_text(held, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(site))
    process, port = start_serve(
        tmp_path, database_url=url, secret_key="test-secret-key-0123456789abcdef",
        model_dir=str(model), fusion_dir=None, **settings,
    )  # fmt: skip
    return process, port, token


def upload_in_thread(port: int, token: str) -> tuple[threading.Thread, dict[str, Any]]:
    """A photo upload in a thread of its own; its answer (or error) lands in the dict."""
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["answer"] = httpx.post(
                f"http://127.0.0.1:{port}/families/F1/photos",
                files={"file": ("p.jpg", jpeg(1), "image/jpeg")},
                headers={"Authorization": f"Bearer {token}"},
                timeout=BOUND_S,
            )
        except httpx.HTTPError as exc:
            outcome["answer"] = exc

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, outcome


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():  # poll (bounded)
        assert time.monotonic() < deadline, f"{what} within {BOUND_S:g} s"
        time.sleep(0.05)
