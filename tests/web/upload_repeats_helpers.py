"""Helpers of the upload page's browser tests of repeated photos: the families the live server
of `repeats_server` (tests/web/conftest.py) files, the browser locale of each language, the
test that the run's summary is written, and a file to put in the page's file input."""

from __future__ import annotations

from typing import Any

LOCALES = {"en": "en-GB", "ru": "ru-RU", "kk": "kk-KZ"}
FAMILIES = {"en": "F-401", "ru": "F-402", "kk": "F-403", "none repeated": "F-404"}
FINISHED = "() => document.getElementById('upload-progress').textContent.startsWith({start!r})"


def upload_file(name: str, data: bytes, kind: str = "image/jpeg") -> dict[str, Any]:
    """A file for Playwright's set_input_files: its name, type and bytes."""
    return {"name": name, "mimeType": kind, "buffer": data}
