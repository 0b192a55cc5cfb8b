"""The resume guard in the training tests: a resume refused (nothing of the run touched) and
its message, the recipe keys it names, and the identity a run saved in its last checkpoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from training.resume import ResumeMismatchError
from training.run_folder import LAST, METRICS_CSV
from training.train import train


def recipe_keys(message: str) -> list[str]:
    """The recipe keys a refusal names (its differences follow ": " and are split by "; ")."""
    return re.findall(r"(?:: |; )recipe ([\w.]+) ", message)


def resume_refusal(config) -> str:
    last = (config.output_dir / LAST).read_bytes()
    metrics = (config.output_dir / METRICS_CSV).read_text()
    with pytest.raises(ResumeMismatchError) as caught:
        train(config, resume=True)
    assert caught.value.code == "resume_mismatch"
    # Refused before anything of the run was touched.
    assert (config.output_dir / LAST).read_bytes() == last
    assert (config.output_dir / METRICS_CSV).read_text() == metrics
    message = caught.value.message
    assert "\n" not in message and "without --resume" in message
    return message


def saved_identity(run: Path) -> dict[str, str]:
    return torch.load(run / LAST, weights_only=True)["identity"]
