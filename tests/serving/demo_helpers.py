"""Helpers of the demo tests: a source file read as if edited, a call interrupted by Ctrl-C,
and a welfare config edit (the fusion trainings and family generations are counted by the
`work` fixture of tests/serving/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def read_as_edited(monkeypatch: pytest.MonkeyPatch, source: Path) -> None:
    """`source` read as if a line had been added to it (the file itself is left alone)."""
    read_bytes = Path.read_bytes

    def reading(path: Path) -> bytes:
        content = read_bytes(path)
        return content + b"\n# edited\n" if path.resolve() == source.resolve() else content

    monkeypatch.setattr(Path, "read_bytes", reading)


def interrupt_on(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, call: int) -> None:
    """`target.name` raises KeyboardInterrupt on its `call`-th call (Ctrl-C there)."""
    original, calls = getattr(target, name), []

    def cut(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, cut)


def raise_poverty_line(data: dict[str, Any]) -> None:
    data["thresholds"]["poverty_line_kzt"] += 5000
