"""Set-ups shared by the tests of the welfare engine commands: each test run from its own
temporary folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run from tmp_path: a command's default --cache and --out land there."""
    monkeypatch.chdir(tmp_path)
