"""`shanyraq score` (review 16): a path that is no regular file (a FIFO, a character device, a
folder) is refused without being read, and a file over `io.max_bytes` is refused having read
no more than the limit; either costs only its own photo."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tests.vision.engine_fixtures import make_artifact
from tests.vision.score_cli_helpers import invoke_score, scene_photo, strict_json

CHILD_TIMEOUT_S = 120  # a FIFO that is opened blocks until killed: the test fails, not hangs
CHILD_DATA_BYTES = 4 * 1024**3  # /dev/zero read whole would take all memory: MemoryError here
BIG_FILE_BYTES = 64 * 1024**2  # sparse: no disk used, but read whole it is 64 MiB in memory
NOT_REGULAR = "not a regular file"


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("limits16") / "model", taxonomy, size=32)


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (CHILD_DATA_BYTES, CHILD_DATA_BYTES))


def _score_in_child(*args: str) -> subprocess.CompletedProcess[str]:
    """The `shanyraq` entry point in a child process, killed after CHILD_TIMEOUT_S."""
    try:
        return subprocess.run(
            [sys.executable, "-c", "from shanyraq.cli import main; main()", "score", *args],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            preexec_fn=_cap_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`shanyraq score` still ran after {CHILD_TIMEOUT_S} s: a photo blocked it")


def test_fifos_devices_and_folders_are_refused_unread_and_cost_only_themselves(model, tmp_path):
    fifo = tmp_path / "camera.jpg"
    os.mkfifo(fifo)  # no writer: opening it to read blocks forever
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    good = [scene_photo(tmp_path / "a.png", 1), scene_photo(tmp_path / "b.png", 2)]
    photos = [good[0], str(fifo), str(folder), good[1]]
    zero = Path("/dev/zero")
    if zero.exists() and stat.S_ISCHR(zero.stat().st_mode):
        photos.insert(2, str(zero))
    result = _score_in_child(*photos, "--model", str(model), "--json")
    assert result.returncode == 1, result.stderr
    records = [strict_json(line) for line in result.stdout.splitlines()]
    assert [r["photo"] for r in records] == photos
    errors = {r["photo"]: r["error"] for r in records if "error" in r}
    assert set(errors) == set(photos) - set(good)  # the good photos are scored
    assert NOT_REGULAR in errors[str(fifo)] and "FIFO" in errors[str(fifo)]
    if str(zero) in errors:
        assert NOT_REGULAR in errors[str(zero)] and "device" in errors[str(zero)]
    assert errors[str(folder)] == "a folder, not a photo"
    assert all("\n" not in why for why in errors.values())
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # left as it was


def test_a_fifo_gets_a_one_line_refusal_in_the_table_too(model, tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    good = scene_photo(tmp_path / "a.png", 1)
    result = _score_in_child(good, str(fifo), "--model", str(model))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{good}:  room ")
    assert lines[1].startswith(f"{fifo}: not scored: ") and NOT_REGULAR in lines[1]


def test_a_file_over_io_max_bytes_is_refused_without_being_read_whole(model, tmp_path, max_bytes):
    at_limit = Path(scene_photo(tmp_path / "at-limit.png", 1))
    limit = at_limit.stat().st_size  # a photo of exactly the limit is scored
    one_over = tmp_path / "one-over.png"
    one_over.write_bytes(at_limit.read_bytes() + b"\0")
    big = tmp_path / "big.png"
    with big.open("wb") as file:  # a real photo's bytes first, then a sparse tail
        file.write(at_limit.read_bytes())
        file.truncate(BIG_FILE_BYTES)
    max_bytes(limit)
    photos = [str(at_limit), str(one_over), str(big), scene_photo(tmp_path / "b.png", 2)]
    tracemalloc.start()
    try:
        result = invoke_score(*photos, "--model", str(model), "--json")
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1, result.output
    records = [strict_json(line) for line in result.stdout.splitlines()]
    assert [r["photo"] for r in records] == photos
    errors = {r["photo"]: r["error"] for r in records if "error" in r}
    assert set(errors) == {str(one_over), str(big)}
    for why in errors.values():
        assert f"{limit} bytes" in why and "io.max_bytes" in why and "\n" not in why
    assert peak_bytes < BIG_FILE_BYTES // 4, f"{peak_bytes} bytes held: the file was read whole"


def test_the_table_names_the_byte_limit(model, tmp_path, max_bytes):
    photo = scene_photo(tmp_path / "a.png", 1)
    max_bytes(100)
    result = invoke_score(photo, "--model", str(model))
    assert result.exit_code == 1, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"{photo}: not scored: ") and "100 bytes" in line
