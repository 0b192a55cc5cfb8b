"""Export parity (helper-183 review): graphs that agree with torch on the one batch checked but
not on others, outputs of the wrong shape, embeddings that vanish, and half-precision models."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from tests.vision.engine_fixtures import make_artifact, room_scene
from vision.artifact import ONNX_FILE, ModelArtifact, read_artifact
from vision.export import ExportRequest, check_parity, export_artifact
from vision.export_parity import ExportParityError
from vision.model import ShanyraqNet, load_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, taxonomy) -> tuple[ShanyraqNet, Path, ModelArtifact]:
    folder = make_artifact(tmp_path_factory.mktemp("review18") / "model", taxonomy)
    model, _ = load_model(folder)
    return model, folder, read_artifact(folder)


def _photos(n: int) -> list[np.ndarray]:
    return [room_scene(100 + i, height=48, width=64) for i in range(n)]


def _rewired(source: Path, target: Path, output: str, nodes: list, initializers: dict) -> Path:
    """`source`'s graph with `output` renamed `<output>_raw` where it is made and read, and
    `nodes` (reading it) making `output` again, from `initializers` besides."""
    graph = onnx.load(str(source))
    raw = f"{output}_raw"
    for node in graph.graph.node:
        node.output[:] = [raw if name == output else name for name in node.output]
        node.input[:] = [raw if name == output else name for name in node.input]
    for name, value in initializers.items():
        graph.graph.initializer.append(numpy_helper.from_array(value, name))
    graph.graph.node.extend(nodes)
    onnx.save(graph, str(target))
    return target


def test_a_graph_wrong_for_a_photo_scored_alone_is_refused(tiny, tmp_path):
    # Serving scores one photo at a time as often as many: a graph that agrees with torch on
    # the parity batch but not at batch 1 (0/1 specialisation) must not pass.
    model, folder, artifact = tiny
    kick = np.zeros(len(artifact.labels.room), np.float32)
    kick[0] = 50.0
    edited = _rewired(
        folder / ONNX_FILE,
        tmp_path / "batch1.onnx",
        "room_logits",
        [
            helper.make_node("Shape", ["pixels"], ["shape"]),
            helper.make_node("Gather", ["shape", "zero"], ["batch"]),
            helper.make_node("Equal", ["batch", "one"], ["alone"]),
            helper.make_node("Cast", ["alone"], ["alone_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["kick", "alone_f"], ["shift"]),
            helper.make_node("Add", ["room_logits_raw", "shift"], ["room_logits"]),
        ],
        {"zero": np.array([0], np.int64), "one": np.array([1], np.int64), "kick": kick},
    )
    with pytest.raises(ExportParityError, match=r"room probabilities.*one photo at a time"):
        check_parity(model, edited, artifact, _photos(3))


def test_a_graph_with_the_batch_baked_in_is_refused_in_one_line(tiny, tmp_path):
    # A reshape to a constant batch runs on the parity batch only; elsewhere ONNX Runtime's
    # own exception (a traceback at the CLI) came out instead of the export's error.
    model, folder, artifact = tiny
    edited = _rewired(
        folder / ONNX_FILE,
        tmp_path / "baked.onnx",
        "signs_logits",
        [helper.make_node("Reshape", ["signs_logits_raw", "baked"], ["signs_logits"])],
        {"baked": np.array([3, -1], np.int64)},
    )
    with pytest.raises(ExportParityError, match="cannot run the exported graph") as caught:
        check_parity(model, edited, artifact, _photos(3))
    assert "\n" not in str(caught.value) and "batch axis" in str(caught.value)


def test_outputs_of_another_shape_are_refused(tmp_path, taxonomy):
    # With a room head that ignores pixels every row is the same, so a graph giving one row
    # for the whole batch broadcast against torch's and passed.
    folder = make_artifact(tmp_path / "model", taxonomy, room_bias={"kitchen": 2.0})
    model, _ = load_model(folder)
    edited = _rewired(
        folder / ONNX_FILE,
        tmp_path / "one_row.onnx",
        "room_logits",
        [helper.make_node("Slice", ["room_logits_raw", "zero", "one", "zero"], ["room_logits"])],
        {"zero": np.array([0], np.int64), "one": np.array([1], np.int64)},
    )
    with pytest.raises(ExportParityError, match=r"room_logits of shape \(1, 6\).*\(3, 6\)"):
        check_parity(model, edited, read_artifact(folder), _photos(3))


def test_an_embedding_gone_to_zero_in_onnx_is_refused(tiny, tmp_path):
    # Two zero vectors agree; one zero and one not do not (the cosine was taken as 1).
    model, folder, artifact = tiny
    edited = _rewired(
        folder / ONNX_FILE,
        tmp_path / "zero_embedding.onnx",
        "embedding",
        [helper.make_node("Mul", ["embedding_raw", "nothing"], ["embedding"])],
        {"nothing": np.zeros((1, artifact.embedding_dim), np.float32)},
    )
    with pytest.raises(ExportParityError, match="embedding by a cosine distance of 1"):
        check_parity(model, edited, artifact, _photos(3))


def test_a_nan_tolerance_passes_nothing(tiny):
    model, folder, artifact = tiny
    with pytest.raises(ExportParityError):
        check_parity(model, folder / ONNX_FILE, artifact, _photos(2), tolerance=math.nan)


def test_a_half_precision_model_exports_a_float32_graph(tiny, tmp_path, taxonomy):
    _, folder, artifact = tiny
    half, _ = load_model(folder)
    half = half.half()
    request = ExportRequest(
        variant="shanyraq_test", preprocessing=artifact.preprocessing, model_version="half"
    )
    export_artifact(
        half, tmp_path / "half", request=request, taxonomy=taxonomy, parity_images=_photos(2)
    )
    graph = onnx.load(str(tmp_path / "half" / ONNX_FILE))
    assert graph.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert all(p.dtype == torch.float32 for p in load_model(tmp_path / "half")[0].parameters())
