"""The code version a welfare test's models and evaluations record stays the same for the whole
test, though the checkout changes under it (others edit the shared tree while the suite runs):
it is the real one, read from the tree at the test's first call, once per folder."""

from __future__ import annotations

import hashlib
import inspect
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shanyraq import __version__, provenance
from welfare.train import evaluate_saved, train_models

EDIT = " M welfare/train.py"  # what `git status --porcelain` says of a tracked file edited


def answering(monkeypatch: pytest.MonkeyPatch, commit: str, difference: bytes) -> None:
    """From now on git answers as a checkout at `commit` whose tracked files differ from it
    by `difference`: the tree as an edit made while the test runs leaves it."""
    before = subprocess.run

    def run(args: Any, *rest: Any, **kwargs: Any) -> Any:
        answers = {"rev-parse": commit.encode(), "status": EDIT.encode(), "diff": difference}
        if args[0] != "git" or args[1] not in answers:
            return before(args, *rest, **kwargs)
        return subprocess.CompletedProcess(args, 0, answers[args[1]], b"")

    monkeypatch.setattr(subprocess, "run", run)


def version(commit: str, difference: bytes) -> str:
    """The version shanyraq.provenance.code_version gives a tree `answering` describes."""
    return f"{__version__}+{commit}.dirty.{hashlib.sha256(difference).hexdigest()[:8]}"


def read_anew(folder: Path | None = None) -> str:
    """The code version the tree gives now, past the reads the test keeps."""
    return inspect.unwrap(provenance.code_version)(folder)


@pytest.mark.usefixtures("hand_made_synthetic")
def test_models_trained_before_the_checkout_changed_record_the_version_the_test_reads(
    tmp_path: Path, welfare_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the model recorded the tree's version when it was trained, the evaluation and the
    test read it again after an edit of the checkout, and the three differed."""
    fusion = welfare_config.fusion.model_copy(update={"default_model": "lgbm_tabular"})
    config = welfare_config.model_copy(update={"fusion": fusion})
    train_models(tmp_path, n=300, seed=5, names=["lgbm_tabular"], config=config)
    meta = json.loads((tmp_path / "lgbm_tabular" / "fusion.json").read_text(encoding="utf-8"))
    answering(monkeypatch, "0123456789ab", b"an edit made while the test ran")
    assert read_anew() != meta["code_version"]  # the tree now says another version
    _, context = evaluate_saved(tmp_path, n_boot=5, config=config)
    assert context["code_version"] == meta["code_version"] == provenance.code_version()


def test_the_version_kept_is_the_first_read_of_each_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering(monkeypatch, "0123456789ab", b"before")
    first = provenance.code_version()
    assert first == version("0123456789ab", b"before")  # what the tree said, not a constant
    answering(monkeypatch, "fedcba987654", b"after")
    assert read_anew() == version("fedcba987654", b"after")
    assert provenance.code_version() == first
    # Another folder is read for itself, the first time it is asked for.
    assert provenance.code_version(tmp_path) == version("fedcba987654", b"after")
