"""model.json records what wrote the ONNX graph: torch, onnx, ONNX Runtime versions, the
graph's opset, read from the file, and which of torch's exporters wrote it (the card:
tests/training/test_card_exported_with.py)."""

from __future__ import annotations

import onnx
import onnxruntime
import torch

from tests.vision.engine_fixtures import make_artifact
from vision.artifact import ONNX_FILE, read_artifact


def test_model_json_records_the_exporting_versions_and_the_graphs_opset(tmp_path, taxonomy):
    folder = make_artifact(tmp_path / "model", taxonomy)
    graph = onnx.load(str(folder / ONNX_FILE))
    opset = next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))

    tools = read_artifact(folder).exported_with

    assert tools == {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx_opset": opset,
        "onnx_ir_version": graph.ir_version,
        "onnx_exporter": "torchscript",
    }
