"""TensorRT engine cache, review 20: processes sharing the cache take turns building, old
folders are removed (only this module's, never the one in use, never through a link), a cache
that cannot be made does not stop a model loading, and the module uses only public names of
vision.providers. No GPU here: the locks and folders are real, the GPU and TensorRT are fakes."""

from __future__ import annotations

import ast
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.vision.trt_cache_helpers import locked_by_someone, refuse_writes_under
from vision import providers, trt_cache
from vision.providers import ORT_NAMES
from vision.trt_folders import LOCK_FILE, engine_build_lock

REPO = Path(__file__).resolve().parents[2]
DAY = 86400
OLD = time.time() - 60 * DAY  # unused for two months
HOLD = """
import sys
from vision.trt_folders import engine_build_lock

options = {"trt_engine_cache_enable": True, "trt_engine_cache_path": sys.argv[1]}
with engine_build_lock([options]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _cache_options(folder: Path) -> list[dict[str, object]]:
    return [
        {"device_id": 0, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(folder)},
        {"device_id": 0},
        {},
    ]


class _WaitSeen(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "waiting for another process" in record.getMessage():
            self.seen.set()


@pytest.fixture
def waiting(caplog):
    """Set when a caller logs that it waits for another's build."""
    caplog.set_level(logging.INFO, logger="vision.trt_folders")
    handler = _WaitSeen()
    logging.getLogger("vision.trt_folders").addHandler(handler)
    yield handler.seen
    logging.getLogger("vision.trt_folders").removeHandler(handler)


def _build_in_thread(folder: Path, inside: Callable[[], None]) -> threading.Thread:
    def build() -> None:
        with engine_build_lock(_cache_options(folder)):
            inside()

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    return thread


def test_a_second_process_waits_for_the_first_build(tmp_path, waiting):
    # Two workers (or the service and `rescore`) starting on one cache folder both built the
    # engine (minutes of GPU each) and wrote the same engine files at once.
    folder = tmp_path / "key" / "batch-1-to-256-224px"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert first.stdout is not None and first.stdin is not None
        assert first.stdout.readline() == "held\n"
        entered = threading.Event()
        second = _build_in_thread(folder, entered.set)
        assert waiting.wait(30)  # says why it does not start
        assert not entered.is_set()  # blocked on the first process's lock
        first.stdin.write("\n")
        first.stdin.flush()
        second.join(30)
        assert entered.is_set()
    finally:
        first.kill()
        first.wait()


def test_a_waiter_locks_the_folder_anew_when_it_was_removed_meanwhile(tmp_path, waiting):
    folder = tmp_path / "key" / "batch-1-to-256-224px"
    seen: list[bool] = []
    with engine_build_lock(_cache_options(folder)):
        second = _build_in_thread(
            folder, lambda: seen.append(locked_by_someone(folder / LOCK_FILE))
        )
        assert waiting.wait(30)
        shutil.rmtree(tmp_path / "key")  # as prune_cache does, holding the lock
    second.join(30)
    assert seen == [True]  # it holds the lock of the folder that is there now, not a lost one


def test_no_tensorrt_cache_locks_nothing_and_logs_nothing(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="vision.trt_folders")
    with engine_build_lock([{"device_id": 0, "trt_fp16_enable": True}, {}]):
        pass
    assert list(tmp_path.iterdir()) == [] and not caplog.records


def test_a_read_only_cache_is_locked_without_writing_or_skipped_quietly(
    tmp_path, monkeypatch, caplog
):
    prebuilt, fresh = tmp_path / "prebuilt", tmp_path / "fresh"
    prebuilt.mkdir()
    fresh.mkdir()
    (prebuilt / LOCK_FILE).touch()
    refuse_writes_under(monkeypatch, tmp_path)
    caplog.set_level(logging.INFO, logger="vision.trt_folders")
    with engine_build_lock(_cache_options(prebuilt)):  # read-only is enough for flock
        assert locked_by_someone(prebuilt / LOCK_FILE)
    ran = []
    with engine_build_lock(_cache_options(fresh)):
        ran.append(True)  # no lock file can be made: the session is created all the same
    assert ran == [True]
    (record,) = caplog.records
    assert record.levelno == logging.INFO and "cannot lock" in record.getMessage()


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(trt_cache, "gpu_name", lambda device_id=0: "NVIDIA H100")
    monkeypatch.setattr(trt_cache, "tensorrt_version", lambda: "10.3.0")


def _model(tmp_path: Path, name: str) -> Path:
    model = tmp_path / name / "model.onnx"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(name.encode())
    return model


def _options_for(model: Path, root: Path, **kwargs) -> Path:
    options = trt_cache.tensorrt_options_for(
        model, root, input_name="pixels", input_size=224, **kwargs
    )
    return Path(options["trt_engine_cache_path"])


def _engine_folder(root: Path, name: str, *, stamp: float) -> Path:
    profile = root / name / "batch-1-to-256-224px"
    profile.mkdir(parents=True)
    (profile / "engine.engine").write_bytes(b"\0" * 2_000_000)
    for folder in (profile, profile.parent):
        os.utime(folder, (stamp, stamp))
    return profile.parent


def test_folders_unused_for_long_are_removed_and_nothing_else(tmp_path, fake_gpu, caplog):
    # Each new model (and batch profile) added a folder of engines that was never removed.
    root = tmp_path / "trt"
    in_use = _options_for(_model(tmp_path, "current"), root)
    other_profile = in_use.parent / "batch-1-to-512-224px"
    other_profile.mkdir()
    for folder in (in_use, other_profile, in_use.parent):  # in use, however old its stamp
        os.utime(folder, (OLD, OLD))
    old = _engine_folder(root, "0123456789ab-nvidia-h100-0123456789abcdef", stamp=OLD)
    recent = _engine_folder(root, "fedcba987654-nvidia-h100-fedcba9876543210", stamp=time.time())
    notes = _engine_folder(root, "notes", stamp=OLD)  # not named as this module names folders
    outside = _engine_folder(tmp_path, "outside", stamp=OLD)
    link = root / "aaaaaaaaaaaa-nvidia-h100-aaaaaaaaaaaaaaaa"
    link.symlink_to(outside, target_is_directory=True)
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    caplog.set_level(logging.INFO, logger="vision.trt_folders")

    assert _options_for(_model(tmp_path, "current"), root) == in_use

    assert not old.exists() and not other_profile.exists()
    assert in_use.is_dir() and recent.is_dir() and notes.is_dir() and link.is_symlink()
    assert (outside / "batch-1-to-256-224px" / "engine.engine").is_file()
    removed = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert len(removed) == 2 and any(str(old) in m and "2.0 MB" in m for m in removed)


def test_a_folder_in_use_by_another_process_is_kept(tmp_path, fake_gpu):
    root = tmp_path / "trt"
    old = _engine_folder(root, "0123456789ab-nvidia-h100-0123456789abcdef", stamp=OLD)
    with engine_build_lock(_cache_options(old / "batch-1-to-256-224px")):
        os.utime(old, (OLD, OLD))
        _options_for(_model(tmp_path, "current"), root)
        assert old.is_dir()  # being built or loaded right now
    _options_for(_model(tmp_path, "current"), root)
    assert not old.exists()


def test_using_a_folder_stamps_it_and_none_keeps_every_folder(tmp_path, fake_gpu):
    root = tmp_path / "trt"
    first = _options_for(_model(tmp_path, "first"), root)
    os.utime(first.parent, (OLD, OLD))
    before = time.time() - 1
    assert _options_for(_model(tmp_path, "first"), root) == first
    assert first.parent.stat().st_mtime >= before  # used again: a fresh stamp
    os.utime(first.parent, (OLD, OLD))
    _options_for(_model(tmp_path, "second"), root, keep_unused_days=None)
    assert first.is_dir()
    _options_for(_model(tmp_path, "second"), root, keep_unused_days=90)
    assert first.is_dir()  # sixty days is not ninety
    _options_for(_model(tmp_path, "second"), root)
    assert not first.parent.exists()


def test_a_cache_that_cannot_be_made_builds_without_it(tmp_path, fake_gpu, caplog):
    # A read-only prebuilt cache meeting a new model, or a file where the folder should be,
    # stopped the model loading; the engine can be built without a cache.
    (tmp_path / "file").write_text("not a folder")
    root = tmp_path / "file" / "trt"
    caplog.set_level(logging.WARNING)
    options = trt_cache.tensorrt_options_for(
        _model(tmp_path, "m"), root, input_name="pixels", input_size=224, fp16=False
    )
    assert not any(name.startswith(("trt_engine_cache", "trt_timing_cache")) for name in options)
    assert options["trt_profile_max_shapes"] == "pixels:256x3x224x224"
    assert options["trt_fp16_enable"] is False
    (warning,) = caplog.records
    assert str(root) in warning.getMessage() and "built at every start" in warning.getMessage()


def test_trt_cache_uses_only_public_names_of_providers():
    tree = ast.parse((REPO / "vision" / "trt_cache.py").read_text(encoding="utf-8"))
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "vision.providers"
        for alias in node.names
    ]
    assert imported and not [name for name in imported if name.startswith("_")]
    assert providers.load_any(("libsurely-not-there.so.0",)) is None
    assert "libcuda.so.1" in providers.CUDA_DRIVER_LIBS


def test_every_session_is_created_under_the_build_lock(tmp_path, monkeypatch):
    # The lock only kept builds apart where a caller took it: vision.artifact.open_onnx, which
    # the engine, the GPU path and every other session go through, creates under it.
    import onnxruntime

    from vision.artifact import open_onnx

    graph = tmp_path / "model.onnx"
    graph.write_bytes(b"graph")
    folder = tmp_path / "cache" / "batch-1-to-256-224px"
    folder.mkdir(parents=True)
    held: list[bool] = []

    def session(path, **kwargs):
        held.append(locked_by_someone(folder / LOCK_FILE))
        return "session"

    monkeypatch.setattr(onnxruntime, "InferenceSession", session)
    opened = open_onnx(
        graph, sess_options=None, providers=[ORT_NAMES["tensorrt"], ORT_NAMES["cuda"]],
        provider_options=_cache_options(folder)[:2],
    )  # fmt: skip
    assert opened == "session" and held == [True]
    assert not locked_by_someone(folder / LOCK_FILE)  # released once the session exists
