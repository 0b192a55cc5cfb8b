"""The engine: calibrated scores equal torch's, batching is invisible, abstain reasons, refusals
of artifacts that do not belong together, and the score CLI. (TensorRT session options are in
test_engine_tensorrt.py; configs/engine.yaml as the only source of its settings in
test_engine_config.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shanyraq.errors import ModelMismatchError
from tests.vision.engine_fixtures import (
    copy_with,
    make_artifact,
    model_calls,
    room_scene,
    small_call_config,
)
from vision.artifact import Temperatures
from vision.engine import (
    AbstainConfig,
    Engine,
    EngineConfig,
    abstain_reasons,
    load_engine_config,
    scores_from_outputs,
)
from vision.heads import head_probs
from vision.model import load_model
from vision.preprocess import to_batch
from vision.quality import QualityVerdict
from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING, ABSTAIN_QUALITY

TEMPS = Temperatures(room=1.7, condition=0.8, signs=1.3)


@pytest.fixture(scope="module")
def kitchen_folder(tmp_path_factory, taxonomy):
    folder = tmp_path_factory.mktemp("kitchen") / "model"
    return make_artifact(folder, taxonomy, room_bias={"kitchen": 6.0}, temperatures=TEMPS)


@pytest.fixture(scope="module")
def config() -> EngineConfig:
    return small_call_config()


@pytest.fixture(scope="module")
def engine(kitchen_folder, config) -> Engine:
    return Engine.load(kitchen_folder, config=config)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [room_scene(seed, height=60 + seed, width=80) for seed in range(11)]


def _shas(n: int) -> list[str]:
    return [f"{i:064x}" for i in range(n)]


def test_loads_on_cpu_and_reports_model(engine):
    assert engine.provider == "cpu"
    assert engine.model_version == "test-0" == engine.artifact.model_version


def test_scores_equal_torch_with_calibration(engine, kitchen_folder, photos, taxonomy):
    scores = engine.score(photos, sha256s=_shas(len(photos)))
    assert [s.photo_sha256 for s in scores] == _shas(len(photos))
    model, preprocessing = load_model(kitchen_folder)
    with torch.no_grad():
        out = model(torch.from_numpy(to_batch(photos, preprocessing)))
    room, condition, signs = head_probs(
        engine.artifact, out.room.numpy(), out.condition.numpy(), out.signs.numpy()
    )
    for i, score in enumerate(scores):
        assert list(score.room) == taxonomy.room_names
        assert list(score.condition) == taxonomy.condition_values
        assert list(score.signs) == taxonomy.sign_names
        np.testing.assert_allclose(list(score.room.values()), room[i], atol=1e-4)
        np.testing.assert_allclose(list(score.condition.values()), condition[i], atol=1e-4)
        np.testing.assert_allclose(list(score.signs.values()), signs[i], atol=1e-4)
        np.testing.assert_allclose(score.embedding, out.embedding[i].numpy(), atol=1e-4)
        assert score.model_version == "test-0"


def test_temperature_is_applied(engine, photos):
    raw = engine.run_logits(to_batch(photos[:1], engine.artifact.preprocessing))
    uncalibrated = head_probs(engine.artifact, *list(raw.values())[:3], calibrated=False)
    score = engine.score(photos[:1], sha256s=_shas(1))[0]
    assert not np.allclose(list(score.signs.values()), uncalibrated[2][0], atol=1e-3)


def test_batching_does_not_change_results(engine, photos):
    together = engine.score(photos, sha256s=_shas(len(photos)))  # 11 photos, batches of 4
    alone = [engine.score([p], sha256s=[s])[0] for p, s in zip(photos, _shas(11), strict=True)]
    for a, b in zip(together, alone, strict=True):
        assert a.room == pytest.approx(b.room, abs=1e-5)
        assert a.signs == pytest.approx(b.signs, abs=1e-5)


def test_confident_home_photo_is_used_and_quality_fail_abstains(engine, photos):
    fail = QualityVerdict(status="fail", reasons=("blurred",), retake_hint="hold still")
    ok, failed = engine.score(photos[:2], sha256s=_shas(2), quality=[None, fail])
    assert ok.top_room == "kitchen" and not ok.abstain and ok.abstain_reasons == ()
    assert failed.abstain and failed.abstain_reasons == (ABSTAIN_QUALITY,)


@pytest.mark.parametrize(
    ("bias", "reason"),
    [({"not_dwelling": 6.0}, ABSTAIN_NOT_DWELLING), ({}, ABSTAIN_LOW_CONFIDENCE)],
    ids=["not-a-home", "unsure"],
)
def test_abstains_when_not_a_home_or_unsure(tmp_path, taxonomy, config, photos, bias, reason):
    engine = Engine.load(make_artifact(tmp_path / "m", taxonomy, room_bias=bias), config=config)
    scores = engine.score(photos[:3], sha256s=_shas(3))
    assert all(s.abstain and s.abstain_reasons == (reason,) for s in scores)


def test_abstain_rule_on_condition_and_reason_order():
    room = {"kitchen": 0.3, "not_dwelling": 0.7}
    condition = {1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2, 5: 0.2}
    rule = AbstainConfig(min_room_probability=0.8, min_condition_probability=0.3)
    fail = QualityVerdict(status="fail")
    assert abstain_reasons(room, condition, fail, abstain=rule, not_dwelling="not_dwelling") == (
        ABSTAIN_QUALITY, ABSTAIN_NOT_DWELLING, ABSTAIN_LOW_CONFIDENCE,
    )  # fmt: skip
    home = {"kitchen": 0.9, "not_dwelling": 0.1}
    warn = QualityVerdict(status="warn")
    got = abstain_reasons(home, condition, warn, abstain=rule, not_dwelling="not_dwelling")
    assert got == (ABSTAIN_LOW_CONFIDENCE,)  # condition spread too thin
    sure = {1: 0.05, 2: 0.05, 3: 0.8, 4: 0.05, 5: 0.05}
    assert abstain_reasons(home, sure, None, abstain=rule, not_dwelling="not_dwelling") == ()


def test_non_finite_outputs_abstain(engine, config):
    # fp16 overflow on a GPU gives inf logits, and softmax turns them into NaN; every NaN
    # comparison is False, so such a photo passed as a confident one.
    artifact, labels = engine.artifact, engine.artifact.labels
    room_out, condition_out, signs_out, embedding_out = artifact.onnx_outputs
    n, k = 4, len(labels.condition) - (artifact.condition_formulation == "coral")
    room = np.zeros((n, len(labels.room)), np.float32)
    room[:, labels.room.index("kitchen")] = 8.0
    room[0, 0] = np.inf  # overflow in the room head
    condition = np.zeros((n, k), np.float32)
    condition[1, 0] = np.nan  # in the condition head
    signs = np.zeros((n, len(labels.signs)), np.float32)
    signs[2, 0] = np.nan  # in a sign
    outputs = {
        room_out: room, condition_out: condition, signs_out: signs,
        embedding_out: np.zeros((n, artifact.embedding_dim), np.float32),
    }  # fmt: skip
    scores = scores_from_outputs(
        artifact, outputs, sha256s=_shas(n), verdicts=[None] * n,
        abstain=config.abstain, not_dwelling="not_dwelling",
    )  # fmt: skip
    assert [s.abstain_reasons for s in scores[:3]] == [(ABSTAIN_LOW_CONFIDENCE,)] * 3
    assert all(s.abstain for s in scores[:3])
    assert not scores[3].abstain and scores[3].top_room == "kitchen"  # the finite row is used
    room_nan = {"kitchen": float("nan"), "not_dwelling": float("nan")}
    got = abstain_reasons(
        room_nan, {1: 0.5, 2: 0.5}, None, abstain=config.abstain, not_dwelling="not_dwelling"
    )
    assert got == (ABSTAIN_LOW_CONFIDENCE,)


def test_the_callers_batch_is_one_model_call_up_to_the_cap(kitchen_folder, config, monkeypatch):
    # Bulk callers choose their batch (rescore --batch-size, 32 in annotation pre-scoring);
    # engine.yaml only caps one call. Its old batching.max_batch cut 32 photos into 4 calls of 8.
    shipped = Engine.load(kitchen_folder, config=load_engine_config())
    photos = [room_scene(seed % 5, height=40, width=50) for seed in range(32)]
    calls = model_calls(shipped, monkeypatch)
    shipped.score(photos, sha256s=_shas(32))
    assert calls == [32] and shipped.config.max_photos_per_call >= 32
    capped = Engine.load(kitchen_folder, config=config)  # max_photos_per_call: 4
    calls = model_calls(capped, monkeypatch)
    capped.score(photos[:10], sha256s=_shas(10))
    assert calls == [4, 4, 2]


def test_prepared_inputs_score_as_the_photos_do(engine, photos):
    # The upload pipeline preprocesses in its own threads, then scores prepared batches.
    fail = QualityVerdict(status="fail", reasons=("blurred",), retake_hint="hold still")
    verdicts = [None, fail, None]
    direct = engine.score(photos[:3], sha256s=_shas(3), quality=verdicts)
    inputs = np.stack([engine.prepare(p) for p in photos[:3]])
    prepared = engine.score_inputs(inputs, sha256s=_shas(3), quality=verdicts)
    for a, b in zip(direct, prepared, strict=True):
        assert a.room == pytest.approx(b.room, abs=1e-6)
        assert a.condition == pytest.approx(b.condition, abs=1e-6)
        assert (a.abstain, a.abstain_reasons) == (b.abstain, b.abstain_reasons)
    assert prepared[1].abstain
    with pytest.raises(ValueError, match="2 inputs, 3 sha256s"):
        engine.score_inputs(inputs[:2], sha256s=_shas(3))


def test_mismatched_lengths_refused(engine, photos):
    with pytest.raises(ValueError, match="sha256s"):
        engine.score(photos[:2], sha256s=_shas(1))
    with pytest.raises(ValueError, match="quality"):
        engine.score(photos[:2], sha256s=_shas(2), quality=[None])


def test_refuses_model_of_another_taxonomy(kitchen_folder, tmp_path, config):
    stale = copy_with(kitchen_folder, tmp_path, taxonomy_fingerprint="0" * 64)
    with pytest.raises(ModelMismatchError, match="retrain or export"):
        Engine.load(stale, config=config)


def test_refuses_files_that_do_not_belong_together(kitchen_folder, tmp_path, config):
    odd = copy_with(kitchen_folder, tmp_path, embedding_dim=7)
    with pytest.raises(ModelMismatchError, match="do not belong together"):
        Engine.load(odd, config=config)
    no_graph = copy_with(kitchen_folder, tmp_path / "b")
    (no_graph / "model.onnx").unlink()
    with pytest.raises(ModelMismatchError, match="export the model first"):
        Engine.load(no_graph, config=config)


def test_loading_prints_nothing(kitchen_folder, config, capfd):
    Engine.load(kitchen_folder, config=config)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_cli_scores_flags_duplicates_and_keeps_going_past_bad_files(kitchen_folder, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from vision.cli import app

    scene = room_scene(1, height=600, width=800)
    Image.fromarray(scene).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(scene[:, ::-1]).save(tmp_path / "b.png")  # mirrored: a different photo
    Image.fromarray(scene).resize((400, 300)).save(tmp_path / "c.jpg", quality=60)  # reused
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 20)
    photos = [str(tmp_path / n) for n in ("a.jpg", "b.png", "bad.jpg", "c.jpg")]
    args = ["score", *photos, "--model", str(kitchen_folder), "--json", "--explain",
            "--explain-dir", str(tmp_path / "heat")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # the bad file is reported, the rest scored
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {r["photo"].rsplit("/", 1)[-1]: r for r in records}
    assert "error" in by_name["bad.jpg"] and "score" not in by_name["bad.jpg"]
    assert by_name["c.jpg"]["duplicate_of"] == [photos[0]]
    assert by_name["a.jpg"]["duplicate_of"] == [] == by_name["b.png"]["duplicate_of"]
    room = by_name["a.jpg"]["score"]["room"]
    assert max(room, key=room.get) == "kitchen"
    assert by_name["a.jpg"]["quality"]["status"] == "pass"
    assert all(Path(p).is_file() for p in by_name["a.jpg"]["heatmaps"])
    table = CliRunner().invoke(app, ["score", photos[0], "--model", str(kitchen_folder)])
    assert table.exit_code == 0 and "room kitchen" in table.stdout
