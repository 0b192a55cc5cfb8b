"""`make test` in a sandbox: the real Makefile, stand-ins for the venv's tools and the scripts.

scripts/chromium.sh exits 3 when Chromium is absent and cannot be installed; the browser
tests then skip with its message, so `make test` must go on to pytest. Any other failure
still stops it. The set-up steps (lint, Label Studio's venv, Chromium) run side by side.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _stand_in(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(0o755)


def _waits_for(flag: Path, started: Path) -> str:
    """A stand-in's body: say it started, then succeed only once `flag` exists (another step
    started too, so both ran at the same time); fail after 20 s without it."""
    return (
        f"touch {started}\n"
        f"for _ in $(seq 200); do [ -e {flag} ] && exit 0; sleep 0.1; done\n"
        f"echo 'never saw {flag.name}' >&2; exit 1"
    )


def _make_test(
    tmp_path: Path, chromium_exit: int, labelstudio: str = "exit 0", mypy: str = "exit 0"
) -> tuple[subprocess.CompletedProcess[str], Path]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    venv, calls = tmp_path / "venv", tmp_path / "calls.log"
    _stand_in(venv / "bin" / "ruff", "exit 0")
    _stand_in(venv / "bin" / "mypy", mypy)
    _stand_in(venv / "bin" / "python", f'echo "python $*" >> {calls}')
    _stand_in(tmp_path / "scripts" / "labelstudio.sh", labelstudio)
    _stand_in(tmp_path / "scripts" / "chromium.sh", f"exit {chromium_exit}")
    digest = hashlib.sha256((tmp_path / "pyproject.toml").read_bytes()).hexdigest()[:12]
    stamp = venv / f".installed-{digest}"  # the venv counts as installed: nothing to download
    stamp.touch()
    later = (tmp_path / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (later, later))
    result = subprocess.run(
        ["make", "test", f"VENV={venv}"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    return result, calls


@pytest.mark.parametrize("chromium_exit", [0, 3])
def test_make_test_runs_pytest_with_or_without_chromium(tmp_path, chromium_exit):
    result, calls = _make_test(tmp_path, chromium_exit)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().splitlines() == ["python -m pytest -n 2 --dist loadfile"]


def test_make_test_stops_when_chromium_fails_otherwise(tmp_path):
    result, calls = _make_test(tmp_path, 1)
    assert result.returncode != 0
    assert not calls.exists()  # pytest never ran


def test_make_test_stops_when_label_studio_fails(tmp_path):
    result, calls = _make_test(tmp_path, 0, labelstudio="exit 1")
    assert result.returncode != 0
    assert not calls.exists()


def test_make_test_installs_label_studio_while_the_lint_runs(tmp_path):
    """Each of the two waits until the other has started: in sequence, the first never ends."""
    lint, studio = tmp_path / "lint-started", tmp_path / "labelstudio-started"
    result, calls = _make_test(
        tmp_path, 0, labelstudio=_waits_for(lint, studio), mypy=_waits_for(studio, lint)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().splitlines() == ["python -m pytest -n 2 --dist loadfile"]
