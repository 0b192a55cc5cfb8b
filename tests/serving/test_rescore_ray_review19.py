"""Review 19 of the Ray re-scoring path's actors (serving/rescore_ray_actor.py), without Ray:
each actor is built and called in this process, as Ray's map_batches would.

1. An actor on the CPU path runs ONNX Runtime on its CPU provider even on a node with a GPU
   (Ray gives it no GPU but leaves the node's visible), and "auto" under a run that recorded
   the CPU path is that path: before, such an actor scored on CUDA/TensorRT under the "cpu"
   path, or was refused on the GPU path.
2. A batch the scorer fails on as a whole is an error naming the run and the batch's photos.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from serving.rescore_ray_actor import RescoreBatchError, ScoreBatch
from serving.storage import PhotoStore
from tests.serving.rescore_ray_helpers import actor_kwargs, stored_batch
from vision.bulk import PhotoBytes, open_scorer
from vision.providers import ORT_NAMES, ProviderPlan

MAX_PIXELS = 50_000_000
CPU, CUDA = ORT_NAMES["cpu"], ORT_NAMES["cuda"]


class _GpuScorer:
    """Stands for vision.gpu.TensorBytesScorer on a node whose GPU path is usable."""

    name = "gpu"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.model_version = "test-0"


@pytest.fixture
def gpu_node(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """This machine as a node with a usable CUDA GPU; the ONNX Runtime providers each session
    is opened with (it is really opened on the CPU: there is no GPU here)."""
    import vision.session
    from vision.artifact import open_onnx

    plan = vision.session.plan_providers
    opened: list[list[str]] = []

    def gpu_plan(preference: Any, **options: Any) -> ProviderPlan:
        if "cuda" in preference:
            return ProviderPlan(name="cuda", providers=[(CUDA, {}), (CPU, {})])
        return plan(preference, **options)

    def recording_open(path: Path, *, providers: list[str], **options: Any) -> Any:
        opened.append(list(providers))
        return open_onnx(path, sess_options=options["sess_options"], providers=[CPU])

    monkeypatch.setattr(vision.session, "plan_providers", gpu_plan)
    monkeypatch.setattr(vision.session, "open_onnx", recording_open)
    monkeypatch.setattr("vision.gpu.gpu_usable", lambda device_id=0: (True, ""))
    monkeypatch.setattr("vision.gpu.TensorBytesScorer", _GpuScorer)
    return opened


@pytest.mark.parametrize("prefer", ["cpu", "auto"])
def test_a_cpu_path_actor_scores_on_the_cpu_on_a_node_with_a_gpu(
    tmp_path: Path, model: Path, gpu_node: list[list[str]], prefer: str
) -> None:
    """The run records the "cpu" path and the digest of configs/engine.yaml; an actor that
    took the node's CUDA (fp16 on TensorRT) gave other numbers than the nodes without a GPU,
    all under that one record, on a GPU Ray had given no actor."""
    actor = ScoreBatch(**actor_kwargs(tmp_path, model, prefer))
    assert actor.scorer.name == "cpu"
    assert gpu_node == [[CPU]]  # the actor's one session: on the CPU provider alone
    assert actor.scorer.engine.provider == "cpu"  # type: ignore[attr-defined]
    batch = stored_batch(tmp_path, 2)
    rows = actor(batch)
    assert rows["photo_id"] == [10, 11] and rows["error"] == [None, None]
    # The very numbers of the CPU scorer (on the CPU provider), photo by photo.
    data = PhotoStore(tmp_path / "photos").read(batch["sha256"][1])
    cpu = open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)
    direct = cpu.infer(cpu.prepare([PhotoBytes(11, batch["sha256"][1], data)]))[0].score
    assert direct is not None
    assert json.loads(rows["score"][1])["room"] == pytest.approx(direct.room, abs=1e-6)


def test_auto_under_a_run_of_the_gpu_path_still_opens_the_gpu_path(
    tmp_path: Path, model: Path, gpu_node: list[list[str]]
) -> None:
    """Only the CPU path is held to the CPU: "auto" under a run of the GPU path opens it."""
    settings = actor_kwargs(tmp_path, model, "gpu") | {"prefer": "auto"}
    assert ScoreBatch(**settings).scorer.name == "gpu"


class _FailingScorer:
    name, model_version = "cpu", "test-0"

    def __init__(self) -> None:
        self.asked: list[int] = []

    def prepare(self, batch: list[PhotoBytes]) -> list[PhotoBytes]:
        self.asked += [item.key for item in batch]
        return batch

    def infer(self, prepared: Any) -> Any:
        raise RuntimeError("CUDA out of memory")


def test_a_batch_the_scorer_fails_on_names_the_run_and_its_photos(
    tmp_path: Path, model: Path
) -> None:
    actor = ScoreBatch(**actor_kwargs(tmp_path, model, "cpu"))
    actor.scorer = _FailingScorer()  # type: ignore[assignment]
    batch = stored_batch(tmp_path, 3)
    batch["photo_id"][0] = 4  # its original missing from the store: an outcome, not scored
    batch["sha256"][0] = hashlib.sha256(b"lost").hexdigest()
    with pytest.raises(RescoreBatchError) as failed:
        actor(batch)
    message = failed.value.message
    assert "re-scoring run 7" in message and "batch of 2 (photos 11 to 12)" in message
    assert "RuntimeError: CUDA out of memory" in message and "smaller batch_size" in message
    # Ray hands it to the driver pickled.
    assert pickle.loads(pickle.dumps(failed.value)).message == message


def test_rescore_on_the_cpu_in_process_scores_on_the_cpu_provider(
    model: Path, gpu_node: list[list[str]]
) -> None:
    """`rescore --device cpu` (vision.bulk.open_scorer) asks for the CPU as a Ray actor does."""
    scorer = open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)
    assert scorer.name == "cpu" and gpu_node == [[CPU]]
    assert scorer.engine.provider == "cpu"  # type: ignore[attr-defined]


# --- the driver: the model it is given, and paths as workers elsewhere read them -------------


def test_the_pipeline_refuses_a_model_folder_of_another_version(tmp_path: Path, model: Path):
    # Before: rows went under the folder's model version, the run of the one asked for was
    # never done, and the report said nothing was written.
    from serving.rescore_ray import rescore_with_ray
    from shanyraq.errors import ModelMismatchError
    from tests.serving.rescore_fixtures import populate

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    populate(url, tmp_path / "photos", 2)
    with pytest.raises(ModelMismatchError, match="holds model test-0, not other-1"):
        rescore_with_ray(url, tmp_path / "photos", model, model_version="other-1",
                         prefer="cpu", max_pixels=MAX_PIXELS)  # fmt: skip


def test_the_workers_get_absolute_paths(tmp_path: Path, model: Path, monkeypatch) -> None:
    # Workers resolve a relative path in their own working folder (on a cluster, not the
    # driver's): a relative store would have recorded every photo as missing from it.
    import serving.rescore_ray as pipeline
    from tests.serving.rescore_fixtures import populate

    populate(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "photos", 2)
    given: dict[str, Any] = {}
    monkeypatch.setattr(pipeline, "_score", lambda ray, db, v, s, actor, **kw: given.update(actor))
    monkeypatch.chdir(tmp_path)
    relative_model = Path(os.path.relpath(model, tmp_path))
    pipeline.rescore_with_ray(
        "sqlite:///db.sqlite", Path("photos"), relative_model, model_version="test-0",
        prefer="cpu", max_pixels=MAX_PIXELS,
    )  # fmt: skip
    assert given["db_url"] == f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert given["store_root"] == str(tmp_path / "photos")
    assert Path(given["model_dir"]).resolve() == model.resolve()
    assert Path(given["model_dir"]).is_absolute()
