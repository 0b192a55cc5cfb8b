"""The engine: calibrated scores equal torch's, batching is invisible, abstain reasons, refusals,
and configs/engine.yaml as the only source of its settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from shanyraq.errors import ConfigError, ModelMismatchError
from tests.vision.engine_fixtures import make_artifact, model_calls, room_scene
from vision import providers
from vision import session as session_module
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
from vision.providers import ORT_NAMES
from vision.quality import QualityVerdict
from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING, ABSTAIN_QUALITY

TEMPS = Temperatures(room=1.7, condition=0.8, signs=1.3)


@pytest.fixture(scope="module")
def kitchen_folder(tmp_path_factory, taxonomy):
    folder = tmp_path_factory.mktemp("kitchen") / "model"
    return make_artifact(folder, taxonomy, room_bias={"kitchen": 6.0}, temperatures=TEMPS)


@pytest.fixture(scope="module")
def config() -> EngineConfig:
    shipped = load_engine_config()
    return shipped.model_copy(
        update={
            "abstain": AbstainConfig(min_room_probability=0.5, min_condition_probability=0.0),
            "max_photos_per_call": 4,
        }
    )


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


def _simulated_gpu(monkeypatch) -> list[dict[str, dict]]:
    """The provider probe passes as on a GPU; sessions open on the CPU after their provider
    options are recorded in the returned list (one {provider: options} per session)."""
    monkeypatch.setattr(providers, "probe", lambda: {"cpu": "", "cuda": "", "tensorrt": ""})
    asked: list[dict[str, dict]] = []
    open_real = session_module.open_onnx

    def on_cpu(path, *, sess_options, providers, provider_options=None):
        asked.append(dict(zip(providers, provider_options or [], strict=True)))
        return open_real(path, sess_options=sess_options, providers=[ORT_NAMES["cpu"]])

    monkeypatch.setattr(session_module, "open_onnx", on_cpu)
    return asked


def test_tensorrt_engine_cache_is_one_folder_per_model(tmp_path, taxonomy, config, monkeypatch):
    # ONNX Runtime names a cached TensorRT engine by the graph's file name and tensor names, not
    # its weights: two artifacts of one backbone (model.onnx both) in one trt_cache_dir would
    # share an engine, the second scoring with the first's weights. The GPU is simulated (the
    # probe passes); the session itself opens on the CPU, after its options are recorded.
    asked = _simulated_gpu(monkeypatch)
    runtime = config.runtime.model_copy(update={"trt_cache_dir": tmp_path / "trt"})
    with_cache = config.model_copy(update={"runtime": runtime})
    for seed in (0, 1):
        Engine.load(make_artifact(tmp_path / f"m{seed}", taxonomy, seed=seed), config=with_cache)
    first, second = (options[ORT_NAMES["tensorrt"]] for options in asked)
    assert first["trt_engine_cache_path"] != second["trt_engine_cache_path"]
    for options in (first, second):
        assert Path(options["trt_engine_cache_path"]).parent.parent == tmp_path / "trt"
        assert options["trt_profile_min_shapes"].startswith("pixels:1x3x")  # no per-size rebuild


@pytest.mark.parametrize("keep_days", [7.0, None])
def test_the_engine_cache_keeps_unused_engines_as_long_as_configured(
    tmp_path, taxonomy, config, monkeypatch, keep_days
):
    """runtime.trt_cache_keep_unused_days (configs/engine.yaml) is the age at which other
    models' cached engines are pruned; null keeps them (it was a constant of 30 days)."""
    from vision import trt_cache

    _simulated_gpu(monkeypatch)
    pruned: list[float] = []
    monkeypatch.setattr(
        trt_cache, "prune_cache", lambda root, in_use, *, unused_days: pruned.append(unused_days)
    )
    runtime = config.runtime.model_copy(
        update={"trt_cache_dir": tmp_path / "trt", "trt_cache_keep_unused_days": keep_days}
    )
    Engine.load(
        make_artifact(tmp_path / "m", taxonomy, seed=0),
        config=config.model_copy(update={"runtime": runtime}),
    )
    assert pruned == ([] if keep_days is None else [keep_days])


def test_tensorrt_without_a_cache_folder_still_gets_batch_profiles(
    tmp_path, taxonomy, config, monkeypatch
):
    """Without trt_cache_dir the engine is built at every start, but once for every batch size
    up to the largest call (not again for each new size). GPU simulated as above."""
    asked = _simulated_gpu(monkeypatch)
    runtime = config.runtime.model_copy(update={"trt_cache_dir": None, "fp16": True})
    Engine.load(
        make_artifact(tmp_path / "m", taxonomy, seed=0),
        config=config.model_copy(update={"runtime": runtime}),
    )
    (options,) = (a[ORT_NAMES["tensorrt"]] for a in asked)
    assert options["trt_profile_min_shapes"].startswith("pixels:1x3x")
    assert options["trt_profile_max_shapes"].startswith("pixels:256x3x")
    assert options["trt_fp16_enable"] is True and "trt_engine_cache_path" not in options


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


def _shipped_yaml() -> dict:
    return yaml.safe_load((Path(__file__).parents[2] / "configs" / "engine.yaml").read_text())


def test_the_old_batching_section_is_refused_naming_its_successors(tmp_path):
    data = _shipped_yaml()
    data["batching"] = {"max_batch": 8, "max_wait_ms": 10}
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_engine_config(path)
    assert "max_photos_per_call" in str(info.value) and "serving.yaml" in str(info.value)


@pytest.mark.parametrize(
    "key",
    [
        "abstain.min_condition_probability",
        "runtime.allow_spinning",
        "max_photos_per_call",
        "quality.blur_fail",
        "hashing.reuse_radius",
        "hashing.crop_fractions",
        "hashing.verification",
        "hashing.verification.min_inliers",
    ],
)
def test_a_missing_key_is_refused_by_name_not_defaulted(tmp_path, key):
    # A code default was a second copy of the value: without the key, condition abstention
    # silently went from 0.3 to off, and the quality and reuse thresholds took the code's.
    data = _shipped_yaml()
    *parents, last = key.split(".")
    section = data
    for name in parents:
        section = section[name]
    del section[last]
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=rf"key '{key}': Field required"):
        load_engine_config(path)


def test_a_missing_engine_yaml_is_an_error_not_defaults(tmp_path, monkeypatch):
    from vision.engine import get_engine_config

    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(tmp_path))
    get_engine_config.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"engine\.yaml: file not found"):
            get_engine_config()
    finally:
        get_engine_config.cache_clear()


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


def test_decode_size_never_below_the_quality_working_size(config):
    assert config.decode_side_for(config.decode_short_side_px + 100) == (
        config.decode_short_side_px + 100
    )
    too_small = config.quality.working_side_px - 1
    with pytest.raises(ValueError, match="working_side_px"):
        EngineConfig.model_validate({**config.model_dump(), "decode_short_side_px": too_small})


def test_scoring_alone_may_spin_the_service_may_not(config):
    # The service shares its cores with upload threads; bulk re-scoring and the CLI do not.
    shipped = load_engine_config()
    assert shipped.runtime.allow_spinning is False
    assert shipped.alone().runtime.allow_spinning is shipped.runtime.allow_spinning_alone
    quiet = config.model_copy(
        update={"runtime": config.runtime.model_copy(update={"allow_spinning_alone": False})}
    )
    assert quiet.alone().runtime.allow_spinning is False
    assert config.alone().quality == config.quality  # only the runtime changes


def test_mismatched_lengths_refused(engine, photos):
    with pytest.raises(ValueError, match="sha256s"):
        engine.score(photos[:2], sha256s=_shas(1))
    with pytest.raises(ValueError, match="quality"):
        engine.score(photos[:2], sha256s=_shas(2), quality=[None])


def _copy_with(folder, tmp_path, **changes):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    meta = json.loads((target / "model.json").read_text())
    meta.update(changes)
    (target / "model.json").write_text(json.dumps(meta))
    return target


def test_refuses_model_of_another_taxonomy(kitchen_folder, tmp_path, config):
    stale = _copy_with(kitchen_folder, tmp_path, taxonomy_fingerprint="0" * 64)
    with pytest.raises(ModelMismatchError, match="retrain or export"):
        Engine.load(stale, config=config)


def test_refuses_files_that_do_not_belong_together(kitchen_folder, tmp_path, config):
    odd = _copy_with(kitchen_folder, tmp_path, embedding_dim=7)
    with pytest.raises(ModelMismatchError, match="do not belong together"):
        Engine.load(odd, config=config)
    no_graph = _copy_with(kitchen_folder, tmp_path / "b")
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
