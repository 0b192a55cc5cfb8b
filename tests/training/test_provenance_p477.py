"""A synthetic stream's training-data hash covers the generator's code, so a resume across a
change to the renderer is refused; a forked child (a DataLoader worker) does not keep a run
folder locked after the run released it."""

from __future__ import annotations

import importlib.util
import multiprocessing
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from tests.serving.demo_helpers import read_as_edited
from tests.training.resume_helpers import recipe_keys
from training.recipe import SyntheticStreamData
from training.resume import ResumeMismatchError
from training.run_folder import LAST, METRICS_CSV, RunFolder, RunFolderBusyError, check_run_folder
from training.synth.stream import GENERATOR_CODE, SyntheticStream, stream_sha256
from training.train import train
from vision.artifact import Preprocessing

SPEC = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _stream_hash(taxonomy) -> str:
    """The training-data hash of a stream made now (as a run made after an edit makes it)."""
    stream = SyntheticStream(seed=5, photos_per_epoch=4, size=48, spec=SPEC, taxonomy=taxonomy)
    return stream_sha256(stream.description(epochs=2), stream.config)


def _source(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


@pytest.mark.parametrize("module", GENERATOR_CODE)
def test_an_edit_to_the_generator_changes_the_training_data_hash(taxonomy, monkeypatch, module):
    before = _stream_hash(taxonomy)
    assert _stream_hash(taxonomy) == before
    read_as_edited(monkeypatch, _source(module))
    assert _stream_hash(taxonomy) != before


def test_the_generator_code_is_every_synth_module_the_stream_draws_with():
    # What importing the stream loads of training.synth, but for the config parser (its values
    # are hashed) and output.py (writing photo sets, which a stream does not).
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, training.synth.stream; print(*sorted(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
    ).stdout.split()  # fmt: skip
    synth = {m for m in loaded if m.startswith("training.synth.")}
    assert synth - {"training.synth.config", "training.synth.output"} == set(GENERATOR_CODE)


def _stream_recipe(tiny_recipe, manifest: Path, out: Path):
    config = tiny_recipe(manifest, out)
    stream = SyntheticStreamData(seed=11, photos_per_epoch=16, size=48)
    return config.model_copy(update={"data": config.data.model_copy(update={"stream": stream})})


@pytest.mark.slow
def test_a_resume_after_the_renderer_changed_is_refused(toy_manifest, tiny_recipe, tmp_path,
                                                        monkeypatch):  # fmt: skip
    config = _stream_recipe(tiny_recipe, toy_manifest, tmp_path / "run")
    train(config, stop_after_epoch=1)
    last = (tmp_path / "run" / LAST).read_bytes()
    metrics = (tmp_path / "run" / METRICS_CSV).read_text()
    read_as_edited(monkeypatch, _source("training.synth.rooms"))
    with pytest.raises(ResumeMismatchError) as caught:
        train(config, resume=True)
    message = caught.value.message
    assert (
        "training_data_sha256 (training stream's settings, generator config, or the "
        "generator's code (the modules of training.synth.stream.GENERATOR_CODE))" in message
    )
    assert recipe_keys(message) == []  # the recipe is the same: only the code changed
    advice = "the stream's settings, generator config and generator code it was trained with"
    assert message.endswith(f"restore {advice}")
    assert (tmp_path / "run" / LAST).read_bytes() == last
    assert (tmp_path / "run" / METRICS_CSV).read_text() == metrics


def _outlive(conn: Connection) -> None:
    """A forked child that says it runs, then lives until told to end."""
    conn.send("started")
    conn.recv()


def test_a_forked_child_does_not_keep_a_released_folder_locked(tmp_path):
    fork = multiprocessing.get_context("fork")
    folder = RunFolder(tmp_path, resumed_after=None)  # the folder exists: locked now
    assert folder.locked
    ours, theirs = fork.Pipe()
    child = fork.Process(target=_outlive, args=(theirs,))
    child.start()
    try:
        assert ours.recv() == "started"
        folder.release()
        check_run_folder(tmp_path, resume=False)  # the child, still alive, holds nothing
        with RunFolder(tmp_path, resumed_after=None) as second:
            assert second.locked
    finally:
        ours.send("end")
        child.join()


def test_a_forked_child_leaves_the_lock_with_the_run(tmp_path):
    fork = multiprocessing.get_context("fork")
    with RunFolder(tmp_path, resumed_after=None):
        ours, theirs = fork.Pipe()
        child = fork.Process(target=_outlive, args=(theirs,))
        child.start()
        assert ours.recv() == "started"
        ours.send("end")
        child.join()
        assert child.exitcode == 0
        with pytest.raises(RunFolderBusyError):  # closing its copy did not free the run's lock
            check_run_folder(tmp_path, resume=False)
        with pytest.raises(RunFolderBusyError):
            RunFolder(tmp_path, resumed_after=None)


def test_a_live_dataloader_worker_does_not_keep_the_folder_locked(tmp_path):
    folder = RunFolder(tmp_path, resumed_after=None)
    loader = DataLoader(
        torch.arange(4), batch_size=2, num_workers=1, multiprocessing_context="fork",
        persistent_workers=True,
    )  # fmt: skip
    batches = iter(loader)
    try:
        assert next(batches).tolist() == [0, 1]  # the worker was forked holding the lock
        folder.release()  # as train() does when a run ends, its loader still alive
        with RunFolder(tmp_path, resumed_after=None) as second:
            assert second.locked
    finally:
        del batches
