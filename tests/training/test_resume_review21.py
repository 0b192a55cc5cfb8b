"""Review 21 of resume: a checkpoint refused for what it holds says why, and a GPU out of memory
while a checkpoint is read or applied is not called a damaged checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from shanyraq.errors import ModelMismatchError
from training.resume import CHECKPOINT_KEYS, checkpoint_errors, read_checkpoint

CPU = torch.device("cpu")


def _whole_checkpoint(path: Path, **extra) -> Path:
    torch.save({**{key: 0 for key in CHECKPOINT_KEYS}, **extra}, path)
    return path


def test_an_object_torch_will_not_load_is_named_as_the_reason(tmp_path):
    # torchvision's reference script saves its argparse.Namespace beside the weights: a
    # weights-only load refuses it. The reason must be that, not torch's preamble (which says
    # the file "can still be loaded", with terminal escape codes, and stops before the cause).
    path = _whole_checkpoint(tmp_path / "last.pt", args=argparse.Namespace(lr=0.1))
    with pytest.raises(ModelMismatchError) as caught:
        read_checkpoint(path, map_location=CPU)
    message = caught.value.message
    assert message.startswith(f"{path} is not a readable checkpoint (UnpicklingError: ")
    assert "argparse.Namespace" in message and "not an allowed global" in message
    assert "\x1b" not in message and "can still be loaded" not in message
    assert "without --resume" in message and "\n" not in message


def test_a_pickle_torch_cannot_read_weights_only_names_the_cause(tmp_path):
    import pickle

    path = tmp_path / "last.pt"
    path.write_bytes(pickle.dumps({key: 0 for key in CHECKPOINT_KEYS}, protocol=4))
    with pytest.raises(ModelMismatchError) as caught:
        read_checkpoint(path, map_location=CPU)
    message = caught.value.message
    assert "Unsupported operand" in message
    assert "weights_only` set to `False`" not in message  # no advice to unpickle it unsafely


def _out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")


def test_a_gpu_out_of_memory_reading_the_checkpoint_is_not_a_damaged_file(tmp_path, monkeypatch):
    # Refused as "not a readable checkpoint ... run without --resume to train afresh (it
    # replaces this run's files)", it would have the user discard a whole run for a busy GPU.
    path = _whole_checkpoint(tmp_path / "last.pt")
    assert read_checkpoint(path, map_location=CPU)["epoch"] == 0
    monkeypatch.setattr(torch, "load", _out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):
        read_checkpoint(path, map_location=CPU)


def test_a_gpu_out_of_memory_applying_the_checkpoint_passes_through(tmp_path):
    # As restore() applies it (optimizer state moved to the GPU) or build.load_best reads one.
    with pytest.raises(torch.OutOfMemoryError), checkpoint_errors(tmp_path / "last.pt", hint="h"):
        _out_of_memory()
    # What is wrong with the file itself still becomes the one refusal.
    with pytest.raises(ModelMismatchError), checkpoint_errors(tmp_path / "last.pt", hint="h"):
        raise RuntimeError("PytorchStreamReader failed reading zip archive")
