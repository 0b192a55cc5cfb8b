"""A training run records `shanyraq.provenance.code_version` as that module holds it when the run
starts (read through the module, as welfare and serving read it).

Before, training/train.py imported the function by name, so a code version replaced in
shanyraq.provenance (a packaged build pinning its own, a test) did not reach run.json or the
checkpoint's identity.
"""

from __future__ import annotations

import json

import torch

from training.run_folder import LAST, RUN_JSON
from training.train import train

PATCHED = "9.9.9+0123456789ab"  # no checkout computes this: only the replaced function gives it


def test_a_run_records_the_code_version_the_provenance_module_gives(
    toy_manifest, tiny_recipe, tmp_path, monkeypatch
):
    monkeypatch.setattr("shanyraq.provenance.code_version", lambda folder=None: PATCHED)
    out = tmp_path / "run"
    train(tiny_recipe(toy_manifest, out), stop_after_epoch=1)
    last = torch.load(out / LAST, weights_only=True)
    assert json.loads((out / RUN_JSON).read_text())["code_version"] == PATCHED
    assert last["identity"]["code_version"] == PATCHED
