"""The export writes its graph with torch's TorchScript-based exporter; where that one fails
(or is gone from a newer torch), or ONNX Runtime disagrees with torch on its graph, the
torch.export-based exporter writes it, the parity check judges it the same way, and model.json
names which one did. A model whose outputs are NaN is refused at once, whichever exporter."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vision import export
from vision.artifact import ONNX_FILE, read_artifact
from vision.export import ExportRequest, export_artifact
from vision.export_parity import (
    ExportNonFiniteError,
    ExportParityError,
    _Exportable,
    onnx_session,
)
from vision.model import create_model, model_preprocessing
from vision.preprocess import to_batch


def _photos(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    return [rng.integers(0, 256, size=(40, 48 + i, 3), dtype=np.uint8) for i in range(n)]


def _exported(model, folder, taxonomy, version: str, *, photos: int = 2, **check):
    request = ExportRequest(
        variant="shanyraq_test",
        preprocessing=model_preprocessing(model, size=32),
        model_version=version,
    )
    return export_artifact(
        model, folder, request=request, taxonomy=taxonomy, parity_images=_photos(photos), **check
    )


def test_a_failing_torchscript_exporter_hands_the_graph_to_torch_export(
    tmp_path, taxonomy, monkeypatch, caplog
):
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()

    def gone(*args, **kwargs):
        raise RuntimeError("the TorchScript-based exporter was removed")

    monkeypatch.setattr(export, "_torchscript_export", gone)
    with caplog.at_level(logging.WARNING, logger="vision.export"):
        artifact = _exported(model, tmp_path / "m", taxonomy, "v-fallback")

    assert artifact.exported_with["onnx_exporter"] == "torch.export"
    assert read_artifact(tmp_path / "m").exported_with == artifact.exported_with
    assert "was removed" in caplog.text and "torch.export-based" in caplog.text
    session = onnx_session(tmp_path / "m" / ONNX_FILE)
    for n in (1, 5):  # the batch axis stays dynamic
        (room, *_) = session.run(None, {"pixels": to_batch(_photos(n), artifact.preprocessing)})
        assert room.shape == (n, taxonomy.head_size("room"))


def test_when_both_exporters_fail_nothing_is_written_and_the_error_is_torch_exports(
    tmp_path, taxonomy, monkeypatch
):
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()

    def fails(*args, **kwargs):
        raise RuntimeError("cannot write this model")

    def also_fails(*args, **kwargs):
        raise ValueError("torch.export could not trace it")

    monkeypatch.setattr(export, "_torchscript_export", fails)
    monkeypatch.setattr(export, "_export", also_fails)
    with pytest.raises(ValueError, match="could not trace"):
        _exported(model, tmp_path / "m", taxonomy, "v-none")
    assert not (tmp_path / "m").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left either


def test_a_torchscript_graph_onnx_runtime_disagrees_on_is_written_again_by_torch_export(
    tmp_path, taxonomy, monkeypatch, caplog
):
    torch.manual_seed(0)
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    torch.manual_seed(1)
    other = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    torchscript = export._torchscript_export

    def mistaken(wrapped, example, path):  # a graph that computes something else
        torchscript(_Exportable(other).eval(), example, path)

    monkeypatch.setattr(export, "_torchscript_export", mistaken)
    with caplog.at_level(logging.WARNING, logger="vision.export"):
        artifact = _exported(model, tmp_path / "m", taxonomy, "v-again")

    assert artifact.exported_with["onnx_exporter"] == "torch.export"
    assert "disagrees with torch on the TorchScript-based exporter's graph" in caplog.text
    assert export.check_parity(model, tmp_path / "m" / ONNX_FILE, artifact, _photos(3)) < 1e-4


def test_nan_outputs_are_refused_without_trying_the_other_exporter(tmp_path, taxonomy, monkeypatch):
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    with torch.no_grad():
        model.signs_head.bias.fill_(float("nan"))
    tried: list[str] = []
    monkeypatch.setattr(export, "_export", lambda *args: tried.append("torch.export"))
    with pytest.raises(ExportNonFiniteError, match="signs"):
        _exported(model, tmp_path / "m", taxonomy, "v-nan")
    assert tried == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("photos", "tolerance"), [(0, 1e-4), (2, -1.0), (2, float("nan"))],
    ids=["no-photos", "negative", "nan"],
)  # fmt: skip
def test_a_check_no_graph_passes_is_refused_without_the_other_exporter(
    tmp_path, taxonomy, monkeypatch, photos, tolerance
):
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    tried: list[str] = []
    monkeypatch.setattr(export, "_export", lambda *args: tried.append("torch.export"))
    with pytest.raises(ExportParityError) as refused:
        _exported(model, tmp_path / "m", taxonomy, "v-never", photos=photos, tolerance=tolerance)
    assert tried == [] and list(tmp_path.iterdir()) == []
    # Each in its own words: a bad tolerance is named as such, not as a gap over it.
    said = str(refused.value)
    if photos:
        assert f"parity tolerance {tolerance}: give 0 or more" in said, said
        assert "disagree" not in said, said
    else:
        assert "no photos to check the export with" in said, said
