"""Review 21: evaluate-real generates the recipe's families once, the score cache follows the
ONNX Runtime version, and the report names the execution provider that scored the photos."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.welfare.engine_study_helpers import SEED, SIZE, N
from welfare.real_evaluation import measure_real_scores
from welfare.real_families import check_trained_on, families_at, held_out_families
from welfare.real_report import real_score_lines
from welfare.real_score_cache import ScoreCache
from welfare.real_scores import study_engine


@pytest.fixture(scope="module")
def measured(trained_on_data, vision_dir, config):
    """evaluate-real on two test families, counting how often the families are generated."""
    import training.synth.families as families

    generate_families, calls = families.generate_families, []

    def counted(*args, **kwargs):
        calls.append((args, kwargs))
        return generate_families(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(families, "generate_families", counted)
        result = measure_real_scores(
            trained_on_data, vision_dir=vision_dir, n_families=2, size=SIZE, cache_dir=None,
            n_boot=10, config=config,
        )  # fmt: skip
    return result, calls


def test_evaluate_real_generates_the_families_once(measured):
    """The training-data check and the test families come from one generation of the data."""
    result, calls = measured
    assert len(calls) == 1
    assert result["n_families"] == 2 and result["data"] == {
        "n": N, "seed": SEED, "test_fraction": result["data"]["test_fraction"],
    }  # fmt: skip


def test_the_checked_data_give_the_very_test_families_generated_afresh(trained_on_data, config):
    from welfare.train import load_trained_together

    models, _ = load_trained_together(trained_on_data)
    generated = check_trained_on(models, folder=trained_on_data, n=N, seed=SEED, config=config)
    shared = held_out_families(3, n=N, seed=SEED, config=config, generated=generated)
    afresh = held_out_families(3, n=N, seed=SEED, config=config)
    pd.testing.assert_frame_equal(shared.table, afresh.table)
    assert shared.planned == afresh.planned
    assert shared.simulated.keys() == afresh.simulated.keys()
    for fid, photos in afresh.simulated.items():
        assert [p.score.condition for p in shared.simulated[fid]] == [
            p.score.condition for p in photos
        ]


def test_families_of_other_data_are_refused(config):
    from welfare.real_families import generate

    other = generate(N, seed=SEED + 1, config=config)
    with pytest.raises(ValueError, match=rf"\({N} families, seed {SEED + 1}\) were passed"):
        families_at([0], n=N, seed=SEED, config=config, generated=other)


def test_the_cache_file_follows_the_onnx_runtime_version(tmp_path, vision_dir, config, monkeypatch):
    import onnxruntime

    held = held_out_families(2, n=N, seed=SEED, config=config)
    engine = study_engine(vision_dir)

    def path():
        return ScoreCache(tmp_path, engine=engine, held=held, size=SIZE, model_dir=vision_dir).path

    now = path()
    assert path() == now
    monkeypatch.setattr(onnxruntime, "__version__", onnxruntime.__version__ + ".other")
    assert path() != now


def _report(result, config, **cache):
    text = "\n".join(
        real_score_lines(
            {**result, "command": "test", "cache": {**result["cache"], **cache}},
            targets=config.targets,
        )
    )
    return next(line for line in text.splitlines() if line.startswith("Command: `test`"))


def test_the_report_names_the_provider_and_one_thread_only_on_the_cpu(measured, config):
    result, _ = measured
    assert result["cache"]["provider"] == "cpu"  # the study engine here runs on the CPU
    scored = result["cache"]["scored"]
    on_cpu = _report(result, config)
    assert f"{scored:,} photos rendered and scored in" in on_cpu
    assert "the scores made by ONNX Runtime's CPUExecutionProvider on one thread" in on_cpu
    on_gpu = _report(result, config, provider="cuda")
    assert "the scores made by ONNX Runtime's CUDAExecutionProvider on the GPU" in on_gpu
    assert "one thread" not in on_gpu
    cached = _report(result, config, provider="tensorrt", scored=0)
    assert "came from the cache, made by ONNX Runtime's TensorrtExecutionProvider on the GPU" in (
        cached
    )
    assert "one thread" not in cached


def test_scoring_under_a_tenth_of_a_second_is_not_called_all_from_the_cache():
    # Before: scoring_seconds is recorded to 0.1 s, and a run that scored its photos in
    # 0.04 s (a few small renders) was reported as every score coming from the cache.
    from welfare.real_scores import scoring_description

    counts = {"photos": 3, "scored": 3, "from_cache": 0, "scoring_seconds": 0.0, "provider": "cpu"}
    line = scoring_description(counts)
    assert line.startswith("3 photos rendered and scored in 0.0 s") and "cache, made" not in line


def test_an_older_file_without_a_provider_claims_no_thread(measured, config):
    result, _ = measured
    cache = {k: v for k, v in result["cache"].items() if k != "provider"}
    line = _report({**result, "cache": cache}, config)
    assert "by an execution provider the file does not record" in line
    assert "one thread" not in line
