"""Refusals around the model artifact folder.

Exporting: the destination may be a new path, an empty folder or a model artifact folder (then
replaced whole, at once); anything else is refused before anything is written, and nothing but
the export's own staging folder is ever deleted. Loading: a malformed artifact (model.json,
labels, model.onnx) is one ModelMismatchError that names what is wrong, never a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shanyraq.errors import ModelMismatchError, ShanyraqError
from tests.vision.artifact_helpers import set_value
from tests.vision.engine_fixtures import make_artifact, room_scene
from vision.artifact import read_artifact
from vision.engine import Engine, load_engine_config
from vision.export import ExportRequest, export_artifact
from vision.export_parity import ExportParityError, onnx_session
from vision.model import create_model, model_preprocessing

DESTINATION = "export_destination_invalid"


@pytest.fixture(scope="module")
def model(taxonomy):
    return create_model("shanyraq_test", taxonomy=taxonomy).eval()


@pytest.fixture(scope="module")
def good(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("good") / "model", taxonomy)


def _export(model, folder: Path, taxonomy, *, version: str = "v-new", tolerance: float = 1e-4):
    request = ExportRequest(
        variant="shanyraq_test",
        preprocessing=model_preprocessing(model, size=32),
        model_version=version,
    )
    images = [room_scene(i, height=48, width=64) for i in range(2)]
    return export_artifact(
        model, folder, request=request, taxonomy=taxonomy, parity_images=images, tolerance=tolerance
    )


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (itself included), with a file's bytes."""
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    return {str(p.relative_to(root.parent)): p.read_bytes() if p.is_file() else None for p in paths}


def _refused(excinfo: pytest.ExceptionInfo[ShanyraqError], path: Path) -> None:
    assert excinfo.value.code == DESTINATION and str(path) in str(excinfo.value)


# --- where an export may write ----------------------------------------------------------------


def _data_folder(
    path: Path, good: Path
) -> Path:  # what a user may give by mistake: a dataset folder
    (path / "photos").mkdir(parents=True)
    (path / "photos" / "000001.jpg").write_bytes(b"\xff\xd8 photo")
    (path / "manifest.csv").write_text("path,sha256\nphotos/000001.jpg,ab\n")
    return path


def _run_folder(path: Path, good: Path) -> Path:  # `export RUN --out RUN`
    path.mkdir()
    (path / "run.json").write_text("{}")
    (path / "best.pt").write_bytes(b"weights")
    return path


def _artifact_and_notes(path: Path, good: Path) -> Path:  # an artifact, plus a user's file
    shutil.copytree(good, path)
    (path / "notes.txt").write_text("keep me")
    return path


def _unreadable_artifact(path: Path, good: Path) -> Path:  # looks like one; model.json is not
    shutil.copytree(good, path)
    (path / "model.json").write_text('{"format": 1,')
    return path


def _a_file(path: Path, good: Path) -> Path:
    path.write_text("a user's file")
    return path


@pytest.mark.parametrize(
    "make",
    [_data_folder, _run_folder, _artifact_and_notes, _unreadable_artifact, _a_file],
    ids=["data-folder", "run-folder", "artifact-plus-other-file", "bad-model-json", "file"],
)
def test_export_refuses_a_destination_that_is_not_an_artifact(
    make, model, good, taxonomy, tmp_path
):
    target = make(tmp_path / "out", good)
    before = _snapshot(tmp_path)
    with pytest.raises(ShanyraqError) as excinfo:
        _export(model, target, taxonomy)
    _refused(excinfo, target)
    assert _snapshot(tmp_path) == before  # nothing renamed, deleted, or left behind


def test_export_refuses_below_a_file_and_a_link(model, good, taxonomy, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ShanyraqError) as excinfo:
        _export(model, tmp_path / "f" / "inner", taxonomy)
    _refused(excinfo, tmp_path / "f")
    real = shutil.copytree(good, tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    before = _snapshot(tmp_path)
    with pytest.raises(ShanyraqError) as excinfo:
        _export(model, tmp_path / "link", taxonomy)
    _refused(excinfo, tmp_path / "link")
    assert _snapshot(tmp_path) == before


def test_export_replaces_an_artifact_and_deletes_no_folder_it_did_not_make(
    model, good, taxonomy, tmp_path
):
    # The old code cleared NAME.partial before staging there and NAME.old after the swap.
    out = shutil.copytree(good, tmp_path / "out")
    (out / "MODEL_CARD.md").write_text("old card")  # a build's card belongs to the artifact
    for name in ("out.partial", "out.old"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mine.txt").write_text(name)
    mine = {name: _snapshot(tmp_path / name) for name in ("out.partial", "out.old")}
    with pytest.raises(ExportParityError):  # a failed export cleans up its own staging only
        _export(model, out, taxonomy, tolerance=-1.0)
    assert read_artifact(out) == read_artifact(good)
    _export(model, out, taxonomy, version="v-2")  # an artifact folder is replaced whole
    assert read_artifact(out).model_version == "v-2"
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.onnx", "model.pt"]
    (tmp_path / "empty").mkdir()
    _export(model, tmp_path / "empty", taxonomy, version="v-3")  # so is an empty folder
    assert read_artifact(tmp_path / "empty").model_version == "v-3"
    assert {name: _snapshot(tmp_path / name) for name in mine} == mine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "out", "out.old", "out.partial"]


def test_a_failed_swap_puts_the_previous_artifact_back(
    model, good, taxonomy, tmp_path, monkeypatch
):
    out = shutil.copytree(good, tmp_path / "out")
    rename = Path.rename
    failed: list[Path] = []

    def first_rename_onto_out_fails(self: Path, target):  # the new artifact's move into place
        if Path(target) == out and not failed:
            failed.append(self)
            raise OSError(28, "No space left on device")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", first_rename_onto_out_fails)
    with pytest.raises(OSError, match="No space"):
        _export(model, out, taxonomy)
    monkeypatch.undo()
    assert failed and read_artifact(out) == read_artifact(good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- loading a malformed artifact -------------------------------------------------------------


def _edit_json(folder: Path, edit) -> None:
    path = folder / "model.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _drop(key: str):
    return lambda data: data.pop(key)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda f: (f / "model.json").write_bytes(b"\xff\xfe{}"), "not UTF-8"),
        (lambda f: (f / "model.json").write_text("[1, 2]"), "JSON list"),
        (lambda f: (f / "model.json").write_text("{"), "not valid JSON"),
        (lambda f: _edit_json(f, _drop("preprocessing")), "key 'preprocessing'"),
        (lambda f: _edit_json(f, set_value("labels", "room", value="kitchen")), "labels.room"),
        (lambda f: _edit_json(f, set_value("embedding_dim", value="wide")), "embedding_dim"),
        (lambda f: _edit_json(f, set_value("onnx_outputs", value=[])), "onnx_outputs"),
        (lambda f: ((f / "model.json").unlink(), (f / "model.json").mkdir()), "is a folder"),
    ],
    ids=[
        "not-utf8",
        "json-list",
        "bad-json",
        "missing-key",
        "wrong-type",
        "wrong-type-2",
        "no-outputs",
        "folder",
    ],
)
def test_malformed_model_json_is_one_clear_refusal(damage, says, good, tmp_path):
    folder = shutil.copytree(good, tmp_path / "m")
    damage(folder)
    for load in (read_artifact, lambda f: Engine.load(f, config=load_engine_config())):
        with pytest.raises(ModelMismatchError) as excinfo:
            load(folder)
        message = str(excinfo.value)
        assert says in message and "model.json" in message and "\n" not in message


def test_a_file_given_as_the_model_folder_is_refused(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(ModelMismatchError, match="is a file, not a model artifact folder"):
        read_artifact(tmp_path / "afile")


@pytest.mark.parametrize(
    ("head", "edit"),
    [
        ("room", lambda labels: labels["room"].remove("not_dwelling")),
        ("condition", lambda labels: labels["condition"].reverse()),
        ("signs", lambda labels: labels["signs"].__setitem__(0, "mould")),
    ],
)
def test_label_lists_other_than_the_taxonomy_are_refused(head, edit, good, taxonomy, tmp_path):
    folder = shutil.copytree(good, tmp_path / "m")
    _edit_json(folder, lambda data: edit(data["labels"]))
    artifact = read_artifact(folder)  # the schema allows it; the taxonomy does not
    with pytest.raises(ModelMismatchError, match=rf"the {head} labels .*configs/taxonomy\.yaml"):
        artifact.check_taxonomy(taxonomy)
    with pytest.raises(ModelMismatchError, match=rf"the {head} labels"):
        Engine.load(folder, config=load_engine_config(), taxonomy=taxonomy)


def _scorers():
    from vision.gpu import TensorBytesScorer

    config = load_engine_config()
    return {
        "onnx_session": lambda folder: onnx_session(folder / "model.onnx"),  # evaluate, export
        "engine": lambda folder: Engine.load(folder, config=config),  # serving, rescore, score
        "tensor-scorer": lambda folder: TensorBytesScorer(  # the GPU path's loader, on the CPU
            folder, device="cpu", config=config, max_pixels=10**7
        ),
    }


@pytest.mark.parametrize("loader", ["onnx_session", "engine", "tensor-scorer"])
@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda p: p.unlink(), "has no model.onnx"),
        (lambda p: p.write_bytes(b"not a protobuf"), "ONNX Runtime cannot load"),
        (lambda p: p.write_bytes(p.read_bytes()[:1000]), "ONNX Runtime cannot load"),
        (lambda p: p.write_bytes(b""), "ONNX Runtime cannot load"),
    ],
    ids=["missing", "junk", "truncated", "empty"],
)
def test_missing_or_corrupt_onnx_is_one_clear_refusal(loader, damage, says, good, tmp_path):
    folder = shutil.copytree(good, tmp_path / "m")
    damage(folder / "model.onnx")
    with pytest.raises(ModelMismatchError) as excinfo:
        _scorers()[loader](folder)
    assert says in str(excinfo.value) and str(folder) in str(excinfo.value)
