"""Helpers of the tests of heat maps and the model.pt they explain: the signs the test models
read, a model.pt copied over another as a new export would be, a browser signed in to the
commission, an uploaded photo scored by the loaded model, and every model.pt hashed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.serving.helpers import PASSWORD, Service, jpeg
from tests.web.helpers import sign_in
from vision import explain
from vision.artifact import TORCH_FILE

SIGNS = ("damp_mould", "broken_window")


def copy_model_over(source: Path, folder: Path) -> None:
    """`source`'s model.pt copied over the one in `folder` in place, as a new export would be."""
    target = folder / TORCH_FILE
    before = target.stat().st_mtime_ns if target.exists() else 0
    shutil.copyfile(source / TORCH_FILE, target)
    later = max(before, target.stat().st_mtime_ns) + 2_000_000_000
    os.utime(target, ns=(later, later))


def commission_browser(service: Service) -> TestClient:
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "commission", PASSWORD).status_code == 303
    return browser


def uploaded_photo_id(service: Service) -> int:
    service.create_family("F1")
    answer = service.upload("F1", jpeg(1, size=(640, 480)))
    assert answer.status_code in (200, 201), answer.text
    assert (
        answer.json()["score"] is not None
    )  # scored by the loaded model: its heat maps explain it
    return int(answer.json()["photo_id"])


def hashed_model_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every model.pt vision.explain hashes from now on."""
    hashed: list[Path] = []
    digest = explain._digest

    def counted(path: Path) -> str:
        hashed.append(path)
        return digest(path)

    monkeypatch.setattr(explain, "_digest", counted)
    return hashed
