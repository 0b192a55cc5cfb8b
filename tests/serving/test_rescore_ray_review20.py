"""Review 20 of the Ray re-scoring path and of `rescore`'s report.

1. The photos to score are read in pages of at most `read_page_rows` (planned on the driver
   by keyset), not by one query into one block holding every row.
2. Reading and writing hold no CPU, so a Ray of one CPU, which the one actor takes, no longer
   hangs; a pool the cluster cannot hold is refused instead of waited for forever.
3. A run records the ONNX Runtime provider its scorer really ran on ("gpu/cuda"), not only the
   path asked for; a Ray actor on another provider than the run's is refused.
4. `rescore`'s report counts the store-damaged photos in SQL and reads only the first few ids.

Most of the pipeline runs here on `FakeRay`, which runs the pipeline's stages in this process
as Ray Data would (one actor per block where asked: actors on different nodes); one test
starts a real Ray of one CPU.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event

from serving.db.models import RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore import rescore
from serving.rescore_provenance import RunProvenance
from serving.rescore_ray import (
    RayResourcesError,
    read_pages,
)
from serving.rescore_runs import RescoreResumeError
from tests.serving.helpers import ROOT
from tests.serving.rescore_fixtures import DAY0, CountingScorer, listen_on_reads, populate
from tests.serving.rescore_helpers import MAX_PIXELS, VERSION, new_code
from tests.serving.rescore_ray_helpers import (
    FakeRay,
    ray_outcomes,
    ray_pipeline,
)
from vision.bulk import open_scorer

CUDA, TENSORRT = "CUDAExecutionProvider", "TensorrtExecutionProvider"


@pytest.fixture(autouse=True)
def _one_code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code version the runs record, fixed: others may edit the checkout meanwhile."""
    new_code(monkeypatch, "0.1.0+aaaaaaaaaaaa")


# --- FakeRay: the pipeline's stages in this process --------------------------------------------


def _recorded_scorer(url: str, run_id: int) -> str | None:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return session.get_one(RescoreRun, run_id).scorer
    finally:
        engine.dispose()


# --- 1. read in bounded pages -------------------------------------------------------------------


def test_the_photos_are_read_in_pages_of_at_most_read_page_rows(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: ray.data.read_sql with no shard keys, one task fetching every row into one
    block (FakeRay has no read_sql, so the old pipeline fails here)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 9, bad={5: b""})
    engine = make_engine(url)
    scorer = open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)
    # An earlier run scored photos 7..9: the pages cover only the six left, in id order.
    rescore(engine, stored.store, scorer, since=DAY0 + timedelta(days=6), progress=False)
    with session_scope(make_session_factory(engine)) as session:
        pages = read_pages(session, VERSION, None, page_rows=4)
        assert read_pages(session, VERSION, DAY0 + timedelta(days=6), page_rows=4) == []
    engine.dispose()
    first = stored.ids[0]
    assert pages == [(first - 1, stored.ids[3]), (stored.ids[3], stored.ids[5])]

    ray = FakeRay()
    report = ray_pipeline(monkeypatch, ray, url, tmp_path / "photos", model, batch_size=3,
                       prefer="cpu", read_page_rows=4)  # fmt: skip
    assert ray.stage("read_page").blocks == [4, 2]
    assert report.complete and report.written_now == 6 and (report.scored, report.failed) == (5, 1)
    assert report.by_other_runs == 3  # the earlier run's scores of photos 7..9
    outcomes = ray_outcomes(url)
    assert sorted(outcomes) == stored.ids and outcomes[stored.ids[5]] is not None


# --- 2. one CPU ---------------------------------------------------------------------------------


def test_only_the_actors_hold_cpus(tmp_path: Path, model: Path, monkeypatch) -> None:
    """Before: the reading and the writing tasks each asked for a CPU, which a Ray of one CPU
    never had free while its one actor held it: the pipeline hung."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    populate(url, tmp_path / "photos", 3)
    ray = FakeRay(cpus=1)
    report = ray_pipeline(monkeypatch, ray, url, tmp_path / "photos", model, prefer="cpu")
    assert report.complete and report.written_now == 3
    assert ray.stage("read_page").remote["num_cpus"] == 0
    assert ray.stage("ScoreBatch").remote == {"num_cpus": 1}
    assert ray.stage("write").remote == {"num_cpus": 0}


@pytest.mark.parametrize(
    ("cluster", "ask", "says"),
    [
        ({"cpus": 1}, {"concurrency": 2}, "the Ray cluster has 1 CPU, but 2 scoring actor(s) "
         "need 2 CPU"),
        ({"cpus": 8}, {"num_gpus_per_actor": 1.0, "prefer": "gpu"}, "has 0 GPU, but 1 scoring "
         "actor(s) need 1 GPU"),
    ],
)  # fmt: skip
def test_a_pool_the_cluster_cannot_hold_is_refused(
    tmp_path: Path, model: Path, monkeypatch, cluster: dict[str, Any], ask: dict[str, Any], says
) -> None:
    """Before: Ray Data waited for the actors forever (wait_for_min_actors_s is -1)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    populate(url, tmp_path / "photos", 2)
    ray = FakeRay(**cluster)
    with pytest.raises(RayResourcesError, match="lower concurrency") as refused:
        ray_pipeline(monkeypatch, ray, url, tmp_path / "photos", model, **({"prefer": "cpu"} | ask))
    assert says in refused.value.message
    assert ray.stages == [] and ray_outcomes(url) == {}


@pytest.mark.slow
def test_a_ray_of_one_cpu_finishes(tmp_path: Path, model: Path) -> None:
    """On a real local Ray of one CPU (in a child process: before, it hung there forever)."""
    pytest.importorskip("ray.data", reason="ray is an optional extra: pip install 'ray[data]'")
    script = (
        "import sys; from pathlib import Path; import ray\n"
        "from serving.rescore_ray import rescore_with_ray\n"
        "from tests.serving.rescore_fixtures import populate\n"
        "root, model = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "url = f'sqlite:///{root / \"db.sqlite\"}'\n"
        "populate(url, root / 'photos', 5)\n"
        "ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)\n"
        "r = rescore_with_ray(url, root / 'photos', model, model_version='test-0', batch_size=2,"
        " prefer='cpu', max_pixels=50_000_000, read_page_rows=2)\n"
        "print('REPORT', r.complete, r.written_now, r.scorer)\n"
        "ray.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(model)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "REPORT True 5 cpu" in done.stdout


# --- 3. the provider the scorers really ran on --------------------------------------------------


class ProviderScorer(CountingScorer):
    """The CPU scorer's numbers, reported as the GPU path on `provider`."""

    def __init__(self, inner: Any, provider: str) -> None:
        super().__init__(inner, name="gpu")
        self.provider = provider


@pytest.fixture
def gpu_nodes(model: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each scorer the actors open is on the next provider of the list the test fills."""
    cpu = open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)
    providers: list[str] = []
    monkeypatch.setattr(
        "vision.bulk.open_scorer", lambda *a, **k: ProviderScorer(cpu, providers.pop(0))
    )
    return providers


def _gpu_pipeline(monkeypatch, ray: FakeRay, tmp_path: Path, model: Path) -> Any:
    return ray_pipeline(monkeypatch, ray, f"sqlite:///{tmp_path / 'db.sqlite'}",
                        tmp_path / "photos", model, prefer="gpu", num_gpus_per_actor=1.0,
                        read_page_rows=2)  # fmt: skip


def test_a_ray_run_records_the_provider_its_actors_ran_on(
    tmp_path: Path, model: Path, monkeypatch, gpu_nodes: list[str]
) -> None:
    """Before: the run recorded "gpu" whether TensorRT in fp16 or CUDA scored."""
    populate(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "photos", 4)
    gpu_nodes += [CUDA, CUDA]
    report = _gpu_pipeline(monkeypatch, FakeRay(gpus=2, actor_per_block=True), tmp_path, model)
    assert report.complete and report.written_now == 4 and report.scorer == "gpu/cuda"
    assert _recorded_scorer(f"sqlite:///{tmp_path / 'db.sqlite'}", report.run_id) == "gpu/cuda"


def test_an_actor_on_another_provider_than_the_run_is_refused(
    tmp_path: Path, model: Path, monkeypatch, gpu_nodes: list[str]
) -> None:
    """Two nodes, TensorRT on one and CUDA on the other: before, both scored under one run."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    populate(url, tmp_path / "photos", 4)
    gpu_nodes += [CUDA, TENSORRT]
    with pytest.raises(RescoreResumeError) as refused:
        _gpu_pipeline(monkeypatch, FakeRay(gpus=2, actor_per_block=True), tmp_path, model)
    message = refused.value.message
    assert "scores as 'gpu/tensorrt'" in message and "recorded 'gpu/cuda'" in message
    assert "would mix two providers" in message and _recorded_scorer(url, 1) == "gpu/cuda"


def test_the_provider_of_another_unpromoted_run_binds_the_ray_actors(
    tmp_path: Path, model: Path, monkeypatch, gpu_nodes: list[str]
) -> None:
    """An in-process run on TensorRT holds unpromoted outcomes: Ray actors on CUDA would mix
    with them under the version (the driver knows no provider, so only they can tell)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 4)
    engine = make_engine(url)
    cpu = open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)
    early = rescore(engine, stored.store, ProviderScorer(cpu, TENSORRT),
                    since=DAY0 + timedelta(days=2), progress=False)  # fmt: skip
    engine.dispose()
    assert early.provenance is not None and early.provenance.scorer == "gpu/tensorrt"

    gpu_nodes += [CUDA]
    with pytest.raises(RescoreResumeError, match="recorded 'gpu/tensorrt'"):
        _gpu_pipeline(monkeypatch, FakeRay(gpus=1), tmp_path, model)
    gpu_nodes[:] = [TENSORRT]
    report = _gpu_pipeline(monkeypatch, FakeRay(gpus=1), tmp_path, model)
    assert report.complete and report.written_now == 2 and report.scorer == "gpu/tensorrt"


def test_in_process_runs_record_the_provider_and_name_it_to_resume() -> None:
    cpu_path_on_cuda = SimpleNamespace(name="cpu", engine=SimpleNamespace(provider="cuda"))
    assert RunProvenance.of(cpu_path_on_cuda).scorer == "cpu/cuda"  # type: ignore[arg-type]
    on_cpu = SimpleNamespace(name="cpu", engine=SimpleNamespace(provider="cpu"))
    assert RunProvenance.of(on_cpu).scorer == "cpu"  # type: ignore[arg-type]

    run = RescoreRun(scorer="gpu/cuda", engine_config="e", code_version="c")
    now = RunProvenance("gpu/tensorrt", "e", "c")
    assert now.differences(run) == [
        "scorer path 'gpu/cuda', now 'gpu/tensorrt' (to resume: --device gpu on ONNX "
        "Runtime's cuda provider)"
    ]
    assert RunProvenance("gpu", "e", "c").differences(run) == []  # the actors compare it
    assert RunProvenance("cpu", "e", "c").differences(
        RescoreRun(scorer="cpu/cuda", engine_config="e", code_version="c")
    ) == ["scorer path 'cpu/cuda', now 'cpu' (to resume: --device cpu on ONNX Runtime's cuda "
          "provider)"]  # fmt: skip


# --- 4. the report's store-damaged photos -------------------------------------------------------


def test_the_report_counts_store_damage_in_sql_and_reads_the_first_ids(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every damaged photo's id was read to count them (all of them, for a store that
    lost its disk)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    stored = populate(url, tmp_path / "photos", 24, bad={i: b"" for i in range(23)})
    engine = make_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    listen_on_reads(monkeypatch, lambda *a: statements.append(a[2]))  # the report reads there
    scorer = open_scorer(model, prefer="cpu", max_pixels=MAX_PIXELS)
    report = rescore(engine, stored.store, scorer, batch_size=50, progress=False)
    engine.dispose()
    assert report.store_damaged == 23 and report.store_damaged_ids == stored.ids[:20]
    damage_reads = [
        sql for sql in statements
        if sql.lstrip().startswith("SELECT rescore_scores.photo_id") and " LIKE " in sql
    ]  # fmt: skip
    assert damage_reads and all("LIMIT" in sql for sql in damage_reads)
