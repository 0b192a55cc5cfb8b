"""The training loop: resume equals an uninterrupted run, logging, early stopping, checkpoints."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from tests.training.run_folder_helpers import metrics_rows
from training.run_folder import BEST, LAST, RUN_JSON
from training.train import build_scheduler, train
from vision.model import load_model


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_resume_gives_the_same_result_as_an_uninterrupted_run(
    toy_manifest, tmp_path, tiny_recipe, workers
):
    # With a loader worker (kept for the whole run), the augmentation of each example must
    # still depend only on the seed, the epoch and the example, not on the worker's history;
    # and starting the worker must not shift the random stream dropout draws from.
    loader = {"num_workers": workers}

    def recipe(out: Path):
        config = tiny_recipe(toy_manifest, out, loader=loader, accumulation_steps=2)
        return config.model_copy(
            update={"model": config.model.model_copy(update={"drop_rate": 0.5})}
        )

    once = train(recipe(tmp_path / "straight"))
    interrupted = recipe(tmp_path / "resumed")
    first = train(interrupted, stop_after_epoch=1)
    assert first.epochs_run == 1
    second = train(interrupted, resume=True)
    assert once.epochs_run == second.epochs_run == 2
    a = torch.load(tmp_path / "straight" / LAST, weights_only=True)
    b = torch.load(tmp_path / "resumed" / LAST, weights_only=True)
    for key in ("model", "model_ema"):
        assert a[key].keys() == b[key].keys()
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert a["best_score"] == b["best_score"]
    assert metrics_rows(tmp_path / "straight") == metrics_rows(tmp_path / "resumed")
    assert len(metrics_rows(tmp_path / "straight")) == 2
    for name in (BEST, RUN_JSON):
        assert (tmp_path / "resumed" / name).is_file()
    model, spec = load_model(tmp_path / "resumed" / BEST)
    assert spec.size == 32 and model.condition_formulation == "coral"


def test_early_stopping_stops_when_validation_does_not_improve(
    toy_manifest, tmp_path, tiny_recipe, caplog
):
    # lr tiny: the validation score cannot improve by min_delta, so patience 1 stops at epoch 2.
    recipe = tiny_recipe(
        toy_manifest, tmp_path / "run", epochs=5, lr=1e-9, ema_decay=None,
        early_stopping={"patience": 1, "min_delta": 0.5}, class_balance="sampler",
    )  # fmt: skip
    result = train(recipe)
    assert result.stopped_early and result.epochs_run == 2
    rows = metrics_rows(tmp_path / "run")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_score", "lr", "val_condition_qwk"} <= set(rows[0])
    # Resuming the stopped run (build_artifact(resume=True) after a failed export) trains no
    # further epoch and rewrites nothing.
    last = (tmp_path / "run" / LAST).read_bytes()
    with caplog.at_level("INFO", logger="training.train"):
        again = train(recipe, resume=True)
    assert again.stopped_early and again.epochs_run == 2
    assert again.best_score == result.best_score
    assert metrics_rows(tmp_path / "run") == rows and (tmp_path / "run" / LAST).read_bytes() == last
    assert "stopped early after epoch 2" in caplog.text and "nothing to train" in caplog.text


def test_the_ema_warms_up_from_the_first_optimizer_step(
    toy_manifest, tmp_path, tiny_recipe, taxonomy
):
    """timm's warm-up needs the step: at step 1 the EMA is the model, then the running mean."""
    from training.train import _optimizer_step, build_loop, build_loss, build_model

    config = tiny_recipe(toy_manifest, tmp_path, ema_decay=0.99, class_balance="none")
    model, _ = build_model(config, taxonomy)
    loop = build_loop(config, model, build_loss(config, [], taxonomy), steps_per_epoch=10)
    assert loop.ema is not None

    def step() -> None:
        for p in loop.model.parameters():
            p.grad = torch.ones_like(p)
        _optimizer_step(loop, None)

    step()
    model_state, ema_state = loop.model.state_dict(), loop.eval_model.state_dict()
    assert all(torch.equal(ema_state[k], model_state[k]) for k in model_state)
    before = {k: v.clone() for k, v in ema_state.items()}
    step()
    decay = 1 / 2  # warm-up power 1 at the second step: the mean of the two, far below 0.99
    for name, value in loop.model.named_parameters():
        expected = decay * before[name] + (1 - decay) * value.detach()
        assert torch.allclose(loop.eval_model.state_dict()[name], expected, atol=1e-6), name


def test_cosine_schedule_with_warmup():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    scheduler = build_scheduler(optimizer, total_steps=10, warmup_steps=2)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[2:])) and lrs[-1] < 0.1


def test_head_weights_from_the_recipe_reach_the_loss(toy_manifest, tmp_path, tiny_recipe, taxonomy):
    from training.train import build_loss

    config = tiny_recipe(
        toy_manifest, tmp_path, class_balance="none", head_weights={"signs": 4.0, "room": 0.5}
    )
    settings = build_loss(config, [], taxonomy).settings
    assert (settings.room_weight, settings.condition_weight, settings.signs_weight) == (
        0.5,
        1.0,
        4.0,
    )
    with pytest.raises(ValueError, match="head_weights"):
        tiny_recipe(toy_manifest, tmp_path, head_weights={"signs": -1.0})


def test_run_json_records_the_augmentation_contents_beside_the_recipe(
    toy_manifest, tmp_path, tiny_recipe
):
    # The recipe names its pipeline only ("augment": "phone"): an edit of configs/augment/
    # would leave every later run.json (and model.json) saying the same thing.
    import hashlib
    import json

    from training.augment import load_pipeline_config

    train(tiny_recipe(toy_manifest, tmp_path / "run", epochs=1, ema_decay=None))
    info = json.loads((tmp_path / "run" / RUN_JSON).read_text())
    assert info["recipe"]["augment"] == "phone"
    recorded = info["augmentation"]
    assert recorded["name"] == "phone"
    assert recorded["pipeline"] == load_pipeline_config("phone").model_dump(mode="json")
    canonical = json.dumps(recorded["pipeline"], sort_keys=True, separators=(",", ":"))
    assert recorded["sha256"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_augmentation_record_follows_the_pipeline_file(tmp_path, monkeypatch):
    from training.run_folder import augmentation_record

    (tmp_path / "augment").mkdir()
    pipeline = tmp_path / "augment" / "mine.yaml"
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(tmp_path))
    pipeline.write_text("name: mine\ntransforms:\n  - name: HorizontalFlip\n    params: {p: 0.5}\n")
    before = augmentation_record("mine")
    pipeline.write_text("name: mine\ntransforms:\n  - name: HorizontalFlip\n    params: {p: 0.9}\n")
    after = augmentation_record("mine")
    assert before["name"] == after["name"] == "mine" and before["sha256"] != after["sha256"]
    assert after["pipeline"]["transforms"][0]["params"] == {"p": 0.9}
    assert augmentation_record("none")["pipeline"] is None
