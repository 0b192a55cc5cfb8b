"""Review 22: the engine-trained model records the settings its photo scores were made with (the
score cache's key), and evaluate-real compares them with the scoring now: a difference that
changes what a score means is refused, one that only rounds otherwise is stated in the report."""

from __future__ import annotations

import copy

import onnxruntime
import pytest

from shanyraq.errors import ModelMismatchError
from tests.refusals import must_not_run
from tests.welfare.engine_study_helpers import SIZE, measured_beside
from tests.welfare.real_report_helpers import real_result
from welfare.fusion import FusionModel
from welfare.real_report import engine_trained_verdict, real_score_lines
from welfare.real_report_checks import UNCHECKED_SCORING
from welfare.real_score_cache import score_settings
from welfare.real_scores import study_engine
from welfare.real_scoring_check import check_scoring


def _recorded(engine_folder_and_model):
    """The settings the saved model records, as read back from its folder."""
    folder, _ = engine_folder_and_model
    return FusionModel.load(folder).meta.metrics["data"]["score_settings"]


def test_the_settings_recorded_are_those_of_the_scoring_with_nothing_changed(
    engine_folder_and_model, vision_dir
):
    folder, _ = engine_folder_and_model
    now = score_settings(study_engine(vision_dir), size=SIZE, model_dir=vision_dir)
    assert _recorded(engine_folder_and_model) == now
    assert check_scoring(FusionModel.load(folder), folder=folder, now=now) == []


def test_scores_made_with_other_abstain_thresholds_are_refused_before_any_photo(
    tmp_path, engine_folder_and_model, vision_dir, config, monkeypatch
):
    from vision.engine import get_engine_config

    engine_config = get_engine_config()
    abstain = engine_config.abstain.model_copy(update={"min_room_probability": 0.99})
    changed = engine_config.model_copy(update={"abstain": abstain})
    monkeypatch.setattr("vision.engine.get_engine_config", lambda: changed)
    monkeypatch.setattr("welfare.real_evaluation.held_out_families", must_not_run("the study"))
    folder, _ = engine_folder_and_model
    with pytest.raises(ModelMismatchError, match=r"abstain thresholds \(min_room_probability"):
        measured_beside(tmp_path, vision_dir, config, folder)


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"decode_side": 32}, r"JPEG decode side none \(decoded whole\) when trained, 32 now"),
        ({"quality": {"blur_fail": -1.0}}, r"quality gate \(blur_fail"),
        ({"scoring": {"graph_sha256": "0" * 64}}, r"graph file \(its bytes\)"),
        ({"scoring": {"artifact": {"temperatures": {"room": 2.0}}}}, "model.json's"),
    ],
)
def test_settings_that_change_what_a_score_means_are_refused(
    engine_folder_and_model, change, refused
):
    folder, model = engine_folder_and_model
    now = copy.deepcopy(_recorded(engine_folder_and_model))
    for key, value in change.items():
        now[key] = {**now[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ModelMismatchError, match=refused):
        check_scoring(model, folder=folder, now=now)


def test_the_same_weights_on_cuda_in_fp16_are_compared_and_stated(engine_folder_and_model):
    """On CUDA with fp16 the session runs model_fp16.onnx: other graph bytes, the same weights."""
    folder, model = engine_folder_and_model
    now = copy.deepcopy(_recorded(engine_folder_and_model))
    now["scoring"].update(provider="cuda", fp16=True, graph_sha256="0" * 64, onnxruntime="9.9.9")
    stated = " ".join(check_scoring(model, folder=folder, now=now) or [])
    assert "execution provider cpu when trained, cuda now" in stated
    assert "fp16 false when trained, true now" in stated
    assert "graph model.onnx when trained, model_fp16.onnx now" in stated
    assert "ONNX Runtime" in stated


def test_another_onnx_runtime_is_stated_in_the_report(
    tmp_path, engine_folder_and_model, vision_dir, config, monkeypatch
):
    folder, _ = engine_folder_and_model
    monkeypatch.setattr(onnxruntime, "__version__", onnxruntime.__version__ + ".other")
    result = measured_beside(tmp_path, vision_dir, config, folder)
    assert result["engine_scoring_differences"] == [
        f"ONNX Runtime {onnxruntime.__version__[: -len('.other')]} when trained, "
        f"{onnxruntime.__version__} now"
    ]
    result.pop("_frames")
    text = "\n".join(real_score_lines({**result, "command": "test"}, targets=config.targets))
    assert f"{onnxruntime.__version__} now" in text and UNCHECKED_SCORING not in text


def test_a_model_recording_no_settings_is_not_refused_and_the_report_says_so(
    engine_folder_and_model, welfare_config
):
    folder, model = engine_folder_and_model
    older = copy.deepcopy(model)
    del older.meta.metrics["data"]["score_settings"]
    assert check_scoring(older, folder=folder, now=_recorded(engine_folder_and_model)) is None
    real = real_result(engine_families_checked=True)
    targets = welfare_config.targets
    assert UNCHECKED_SCORING in engine_trained_verdict(real, targets=targets)
    checked = {**real, "engine_scoring_differences": []}
    assert UNCHECKED_SCORING not in engine_trained_verdict(checked, targets=targets)
