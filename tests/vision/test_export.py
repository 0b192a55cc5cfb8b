"""ONNX export: a complete artifact folder, ORT agrees with torch, failed exports change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from vision.artifact import ONNX_FILE, TORCH_FILE, Temperatures, read_artifact
from vision.export import ExportRequest, check_parity, export_artifact
from vision.export_parity import OUTPUT_NAMES, ExportParityError, onnx_session
from vision.heads import head_probs
from vision.model import create_model, load_model, model_preprocessing
from vision.preprocess import to_batch


def _photos(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(40 + i, 56, 3), dtype=np.uint8) for i in range(n)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, taxonomy):
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    request = ExportRequest(
        variant="shanyraq_test",
        preprocessing=model_preprocessing(model, size=32),
        model_version="test-1",
        temperatures=Temperatures(room=1.5, condition=0.8, signs=1.2),
    )
    folder = tmp_path_factory.mktemp("artifact") / "model"
    artifact = export_artifact(
        model, folder, request=request, taxonomy=taxonomy, parity_images=_photos(4)
    )
    return model, folder, artifact


def test_artifact_folder_is_complete(exported, taxonomy):
    _, folder, artifact = exported
    assert (folder / ONNX_FILE).is_file() and (folder / TORCH_FILE).is_file()
    meta = read_artifact(folder)
    meta.check_taxonomy(taxonomy)
    assert meta.temperatures.room == 1.5 and meta.labels.room == taxonomy.room_names
    assert meta.code_version and meta.created_at and meta == artifact


def test_onnx_io_names_dynamic_batch_and_parity_on_other_photos(exported):
    _, folder, artifact = exported
    session = onnx_session(folder / ONNX_FILE)
    assert [i.name for i in session.get_inputs()] == ["pixels"]
    assert [o.name for o in session.get_outputs()] == OUTPUT_NAMES
    torch_model, _ = load_model(folder)
    for n in (1, 7):
        batch = to_batch(_photos(n, seed=n), artifact.preprocessing)
        outs = session.run(None, {"pixels": batch})
        assert outs[0].shape[0] == n and outs[3].shape == (n, artifact.embedding_dim)
        import torch

        with torch.no_grad():
            ref = torch_model(torch.from_numpy(batch))
        for a, b in zip(
            head_probs(artifact, *outs[:3]),
            head_probs(artifact, ref.room.numpy(), ref.condition.numpy(), ref.signs.numpy()),
            strict=True,
        ):
            assert np.abs(a - b).max() < 1e-4


def test_failed_parity_keeps_previous_artifact(exported, taxonomy):
    model, folder, artifact = exported
    before = (folder / "model.json").read_text()
    request = ExportRequest(
        variant="shanyraq_test", preprocessing=artifact.preprocessing, model_version="test-2"
    )
    with pytest.raises(ExportParityError):
        # A negative tolerance cannot be met: the export must be refused.
        export_artifact(
            model,
            folder,
            request=request,
            taxonomy=taxonomy,
            parity_images=_photos(2),
            tolerance=-1.0,
        )
    assert (folder / "model.json").read_text() == before
    assert not folder.with_name(folder.name + ".partial").exists()


def test_code_version_names_the_commit_and_a_dirty_tree(tmp_path):
    import re
    import subprocess

    from shanyraq import __version__
    from shanyraq.provenance import code_version

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "one")
    commit = git("rev-parse", "--short=12", "HEAD")
    assert code_version(tmp_path).endswith(f"+{commit}")
    (tmp_path / "new.txt").write_text("untracked files do not count\n")
    assert code_version(tmp_path).endswith(f"+{commit}")
    (tmp_path / "a.txt").write_text("two\n")
    two = code_version(tmp_path)
    assert re.fullmatch(rf".+\+{commit}\.dirty\.[0-9a-f]{{8}}", two)
    assert code_version(tmp_path) == two  # the same uncommitted tree, the same version
    (tmp_path / "a.txt").write_text("three\n")
    assert code_version(tmp_path) not in (two, f"{__version__}+{commit}")
    plain = tmp_path.parent / f"{tmp_path.name}-plain"  # outside any checkout
    plain.mkdir()
    assert code_version(plain) == __version__


def test_model_json_keeps_the_augmentation_contents_and_old_ones_still_load(
    exported, taxonomy, tmp_path
):
    # The recipe names its augmentation only ("augment": "phone"); the pipeline's contents and
    # sha256 travel from run.json into training_config, beside the recipe.
    import json

    from vision.artifact import write_artifact
    from vision.export import build_metadata

    model, folder, _ = exported
    augmentation = {"name": "phone", "sha256": "ab" * 32, "pipeline": {"name": "phone"}}
    request = ExportRequest(
        variant="shanyraq_test",
        preprocessing=model_preprocessing(model, size=32),
        model_version="test-aug",
        training_config={"name": "tiny", "augment": "phone"},
        augmentation=augmentation,
    )
    meta = build_metadata(model, request, taxonomy=taxonomy)
    assert meta.training_config["augmentation"] == augmentation
    assert meta.training_config["augment"] == "phone" and "timm_version" in meta.training_config
    write_artifact(tmp_path / "new", meta)
    assert read_artifact(tmp_path / "new").training_config["augmentation"] == augmentation
    # An artifact exported before the field existed loads as before.
    old = json.loads((folder / "model.json").read_text())
    assert "augmentation" not in old["training_config"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.json").write_text(json.dumps(old))
    assert read_artifact(tmp_path / "old").training_config.get("augmentation") is None


def test_an_export_whose_embedding_differs_from_torchs_is_refused(exported, tmp_path):
    """The probabilities may agree while the pooled features do not (an op exported otherwise
    after the heads read them); selection compares photos by those features."""
    import onnx
    from onnx import helper, numpy_helper

    model, folder, artifact = exported
    graph = onnx.load(str(folder / ONNX_FILE))
    (producer,) = [n for n in graph.graph.node if "embedding" in n.output]
    producer.output[list(producer.output).index("embedding")] = "embedding_raw"
    for node in graph.graph.node:  # the heads go on reading the features as they were
        for i, name in enumerate(node.input):
            if name == "embedding":
                node.input[i] = "embedding_raw"
    shift = np.zeros((1, artifact.embedding_dim), np.float32)
    shift[0, 0] = 50.0  # one feature moved far: the direction changes
    graph.graph.initializer.append(numpy_helper.from_array(shift, "embedding_shift"))
    graph.graph.node.append(
        helper.make_node("Add", ["embedding_raw", "embedding_shift"], ["embedding"])
    )
    edited = tmp_path / "edited.onnx"
    onnx.save(graph, str(edited))
    with pytest.raises(ExportParityError, match="embedding by a cosine distance"):
        check_parity(model, edited, artifact, _photos(3))
    assert check_parity(model, folder / ONNX_FILE, artifact, _photos(3)) < 1e-4
