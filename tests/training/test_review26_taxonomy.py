"""Review 26 of a run's record: last.pt and run.json say which taxonomy (and run.json which
code) the run trained with, and a resume after configs/taxonomy.yaml changed is refused."""

from __future__ import annotations

import json

import pytest
import torch

from shanyraq import __version__
from shanyraq.taxonomy import get_taxonomy
from training.resume import ResumeMismatchError
from training.run_folder import LAST, METRICS_CSV, RUN_JSON
from training.train import train


def test_run_json_records_the_code_and_taxonomy_it_trained_with(one_epoch, taxonomy):
    # The recipe and data hash were recorded, not the code: a later `shanyraq export RUN`
    # stamps model.json with the code that exports, and the training code was nowhere.
    info = json.loads((one_epoch / RUN_JSON).read_text())
    last = torch.load(one_epoch / LAST, weights_only=True)
    # The version the run computed when it started (the tree may change while tests run).
    assert info["code_version"] == last["identity"]["code_version"]
    assert info["code_version"].startswith(f"{__version__}+")  # the commit, from a checkout
    expected = {"version": taxonomy.version, "fingerprint": taxonomy.fingerprint()}
    assert info["taxonomy"] == last["taxonomy"] == expected


def test_a_resume_after_the_taxonomy_changed_is_refused(
    toy_manifest, tiny_recipe, run, reordered_signs, taxonomy
):
    # Before, the run resumed: the manifest names its signs, so it and its hash were the same,
    # and the heads kept their sizes; epoch 2 trained each sign output on another sign's labels.
    last = (run / LAST).read_bytes()
    metrics = (run / METRICS_CSV).read_text()
    with pytest.raises(ResumeMismatchError) as caught:
        train(tiny_recipe(toy_manifest, run), resume=True)
    message = caught.value.message
    now = get_taxonomy()
    assert now.sign_names[:2] == taxonomy.sign_names[1::-1]
    assert (
        f"taxonomy ({reordered_signs}) version {taxonomy.version} "
        f"({taxonomy.fingerprint()[:12]}) -> version {now.version} ({now.fingerprint()[:12]})"
    ) in message
    assert "\n" not in message and "without --resume" in message
    assert message.endswith("restore the taxonomy it was trained with")
    assert (run / LAST).read_bytes() == last and (run / METRICS_CSV).read_text() == metrics


def test_a_checkpoint_without_its_taxonomy_resumes_with_a_warning(
    toy_manifest, tiny_recipe, run, caplog
):
    # last.pt written before the taxonomy was recorded: resumed unchecked, as other fields.
    state = torch.load(run / LAST, weights_only=True)
    del state["taxonomy"]
    torch.save(state, run / LAST)
    with caplog.at_level("WARNING", logger="training.resume"):
        assert train(tiny_recipe(toy_manifest, run), resume=True).epochs_run == 2
    assert "did not record the taxonomy" in caplog.text and "resuming unchecked" in caplog.text
