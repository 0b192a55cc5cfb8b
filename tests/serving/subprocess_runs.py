"""Helpers of the tests that start a process of their own: a Python script run to its end, the
command of one whose code version is pinned, and `shanyraq serve` started on a free port; every
wait bounded, and a process that overstays killed and its output shown; the log lines of a
logger in what `serve` wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.serving.helpers import ROOT, free_port

START_BOUND_S = 60.0  # how long `serve` may take to answer /health


def ended(process: subprocess.Popen[str], *, bound_s: float, what: str) -> tuple[str, str]:
    """The stdout and stderr of `process` once it has exited; if it has not within `bound_s`,
    it is killed and the test fails with both."""
    try:
        return process.communicate(timeout=bound_s)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{what} did not exit within {bound_s:g} s:\n{stdout}{stderr}")


def run_script(script: str, *args: str, bound_s: float) -> subprocess.CompletedProcess[str]:
    """`script` run by this Python with `args`, in a process of its own from the repository
    root, once it has exited (within `bound_s`, or the test fails)."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = ended(process, bound_s=bound_s, what="the process")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# Put before a child's script by `pinned_command`: the child's shanyraq.provenance.code_version
# returns its last argument, taken off sys.argv before the script runs (so the script's own
# arguments keep their places).
_PIN_CODE_VERSION = """
import sys as _sys
import shanyraq.provenance as _provenance
_PINNED = _sys.argv.pop()
_provenance.code_version = lambda folder=None: _PINNED
"""


def pinned_command(script: str, *args: str, code_version: str) -> list[str]:
    """The command that runs `script` with `args` in this Python, its code version
    (shanyraq.provenance.code_version) `code_version` whatever the tree it reads holds. A
    re-scoring run records the code version and a resume compares with it: a run started in a
    child and resumed by the test must not see two versions because a file of the checkout
    changed between the child's read and the test's."""
    return [sys.executable, "-c", _PIN_CODE_VERSION + script, *args, code_version]


def start_serve(
    tmp_path: Path, *, data_mode: int | None = None, **settings: Any
) -> tuple[subprocess.Popen[str], int]:
    """`shanyraq serve` on a free port, its serving.yaml in `tmp_path` holding `settings`
    (data_dir: a fresh folder unless given) and no SHANYRAQ_ setting of the environment, once
    it answers /health with 200: (the process, its port). `data_mode`: the fresh data folder is
    made beforehand with these permissions (else `serve` makes it). The test fails if it stops
    at start, answers otherwise, or has not answered within START_BOUND_S. The request answered
    is the only one in its log: the ones before it found nothing listening."""
    data_dir = tmp_path / "data"
    if data_mode is not None:
        data_dir.mkdir()
        data_dir.chmod(data_mode)  # not mkdir's mode, which the umask narrows
    config = tmp_path / "serving.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data_dir), **settings}), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHANYRAQ_")}
    command = ["serve", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "shanyraq.cli", *command],
        cwd=ROOT, env={**env, "NO_ALBUMENTATIONS_UPDATE": "1"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + START_BOUND_S
    # One client for all the polls: each new one loads the CA certificates (25 ms of CPU).
    with httpx.Client(timeout=1) as client:
        answer = _first_answer(client, process, f"http://127.0.0.1:{port}/health", deadline)
    if answer is not None:
        if answer.status_code != 200:
            process.kill()
            stderr = process.communicate()[1][-3000:]
            pytest.fail(
                f"serve answered /health with {answer.status_code}: {answer.text}\n{stderr}"
            )
        return process, port
    process.kill()
    pytest.fail(f"serve did not answer within {START_BOUND_S:g} s:\n{process.communicate()[1]}")


def _first_answer(
    client: httpx.Client, process: subprocess.Popen[str], url: str, deadline: float
) -> httpx.Response | None:
    """`url`'s first answer, polled until `deadline` (None: none by then); the test fails if
    `process` stops first."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve stopped at start:\n{process.communicate()[1][-3000:]}")
        try:
            return client.get(url)
        except httpx.TransportError:  # not listening yet: no request reached it
            time.sleep(0.1)
    return None


# It exits about a second after the signal; before, it waited for the request, which never ends
# while the client keeps its connection open.
EXIT_BOUND_S = 60.0


# time (UTC, ISO 8601), level, logger name, message
LINE = re.compile(r"^(?P<time>\S+) (?P<level>[A-Z]+) (?P<name>[\w.]+): (?P<message>.*)$")


def log_lines(stderr: str, *, name: str, message: str) -> list[re.Match[str]]:
    """The log lines of logger `name` whose message starts with `message`."""
    found = (LINE.match(line) for line in stderr.splitlines())
    return [m for m in found if m and m["name"] == name and m["message"].startswith(message)]
