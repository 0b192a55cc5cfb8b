"""Label Studio's task list as pull reads it, built by hand (`LseTask`, annotations and
predictions as dicts, a connection that lists them), and the report pull builds from it; no
server is needed."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

from label_studio_sdk.types.lse_task import LseTask

from annotation.export import build_report, fetch_annotated
from annotation.label_config import PhotoLabels as L
from annotation.label_config import result_from_labels

SHA_A, SHA_B = "ab" * 32, "cd" * 32
KITCHEN = L("kitchen", 3, frozenset())
BEDROOM = L("bedroom", 3, frozenset())


def annotation_of(
    taxonomy, annotation_id: int, who: int, labels: L, *, parent: int | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": annotation_id,
        "completed_by": who,
        "result": result_from_labels(taxonomy, labels),
        "was_cancelled": False,
        "created_at": "2025-02-01T09:00:00Z",
        "updated_at": f"2025-02-01T09:{annotation_id:02d}:00Z",
    }
    if parent is not None:
        answer["parent_prediction"] = parent
    return answer


def prediction_of(taxonomy, prediction_id: int, version: str, labels: L, day: int) -> dict:
    return {
        "id": prediction_id,
        "model_version": version,
        "created_at": f"2025-01-{day:02d}T08:00:00Z",
        "result": result_from_labels(taxonomy, labels),
        "score": 0.5,
    }


def listed_task(
    task_id: int,
    annotations: list[dict],
    predictions: Sequence[dict] = (),
    *,
    sha256: str = SHA_A,
    photo: str | None = None,
    family: str = "f1",
    split: str = "train",
) -> LseTask:
    data = {
        "photo": photo or f"bulk/{task_id}.jpg",
        "sha256": sha256,
        "family_id": family,
        "split": split,
    }
    return LseTask(id=task_id, data=data, annotations=annotations, predictions=list(predictions))


class _Tasks:
    def __init__(self, tasks: list[LseTask]) -> None:
        self.tasks = tasks

    def list(self, **_: object) -> list[LseTask]:
        return self.tasks


class FakeConnection:
    """What fetch_annotated asks of a connection: the project's annotated tasks."""

    url = "http://label-studio.test"

    def __init__(self, tasks: list[LseTask]) -> None:
        self.sdk = SimpleNamespace(tasks=_Tasks(tasks))

    def errors(self, action: str) -> nullcontext[None]:
        return nullcontext()


def pulled_report(taxonomy, tmp_path, tasks: list[LseTask], method: str = "majority"):
    parsed = fetch_annotated(FakeConnection(tasks), 1, taxonomy)  # type: ignore[arg-type]
    return build_report(
        parsed,
        taxonomy,
        method=method,  # type: ignore[arg-type]
        document_root=tmp_path,
        out_dir=tmp_path,
    )


def changed_counts(report) -> dict[str, tuple[int, int]]:
    return {head: (c.compared, c.changed) for head, c in report.corrections.items()}
