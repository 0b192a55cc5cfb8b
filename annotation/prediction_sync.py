"""Pre-annotations of the photos `push` finds already in the project, kept to the push's model.

Label Studio shows annotators only the predictions of the project's model version, which
`annotate push` sets to its model's. A photo already in the project is not imported again, so
its task keeps the predictions it had: those of the model it was pushed with, or none. Left so,
it would show its annotators no pre-annotation once the push changes the version. `push` gives
each such task the push's prediction (`missing_predictions`, `add_predictions`: once, whatever
the answers) and names the tasks outside the push that are left with other models' predictions
only (`other_models_only`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from annotation.client import NO_RETRIES, Connection
from annotation.resend import send_once
from shanyraq.manifest import ManifestRow
from vision.score import PhotoScore

logger = logging.getLogger(__name__)

ADD_ATTEMPTS = 3  # per batch, as the SDK's own retries (one try and two more)
ADD_RETRY_DELAY_S = 1.0  # before the second attempt; doubled before each next one

# sha256 -> {task id: the model versions of the task's predictions}
Listed = Mapping[str, Mapping[int, set[str]]]


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def prediction_versions(conn: Connection, project_id: int) -> dict[str, dict[int, set[str]]]:
    """sha256 -> {task id: the model versions of the task's predictions}, for every task of the
    project with a sha256 (a photo may be in several tasks: `annotation.answers`)."""
    with conn.errors("listing the project's tasks and their predictions"):
        tasks: list[Any] = list(
            conn.sdk.tasks.list(project=project_id, fields="all", page_size=200)
        )
    found: dict[str, dict[int, set[str]]] = {}
    for task in tasks:
        sha256 = str((task.data or {}).get("sha256") or "")
        if sha256:
            versions = {str(_field(p, "model_version") or "") for p in task.predictions or []}
            found.setdefault(sha256, {})[int(task.id)] = versions
    return found


def missing_predictions(
    rows: Sequence[ManifestRow],
    listed: Listed,
    scores: Mapping[str, PhotoScore],
    make: Callable[[PhotoScore], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A prediction (`make`, with its task's id) for each task of the rows' photos already in
    the project that has none of its score's model version; none where the model gave no
    numbers (`PhotoScore.finite`)."""
    missing: list[dict[str, Any]] = []
    for sha256 in dict.fromkeys(r.sha256 for r in rows if r.sha256 in listed):
        score = scores.get(sha256)
        if score is None or not score.finite:
            continue
        tasks = sorted(t for t, had in listed[sha256].items() if score.model_version not in had)
        missing += [{"task": task_id, **make(score)} for task_id in tasks]
    return missing


def other_models_only(
    listed: Listed, rows: Sequence[ManifestRow], scores: Mapping[str, PhotoScore]
) -> tuple[int, ...]:
    """The tasks of photos this push gives no prediction (not in `rows`, or not scored) that
    have predictions, but none of the push's models: Label Studio shows them without a
    pre-annotation once the push makes its model the project's. Logged as a warning."""
    covered = {r.sha256 for r in rows if r.sha256 in scores and scores[r.sha256].finite}
    versions = {scores[sha256].model_version for sha256 in covered}
    found = sorted(
        task_id
        for sha256, tasks in listed.items()
        if sha256 not in covered
        for task_id, had in tasks.items()
        if versions and had and not had & versions
    )
    if found:
        named = ", ".join(map(str, found[:10])) + (" ..." if len(found) > 10 else "")
        logger.warning(
            "%d task(s) not in this push have predictions of other models only, not of %s: "
            "Label Studio shows them without a pre-annotation once that is the project's model "
            "version; push their manifest again with this model (tasks %s)",
            len(found), ", ".join(sorted(versions)), named,
        )  # fmt: skip
    return tuple(found)


def add_predictions(conn: Connection, project_id: int, batch: list[dict[str, Any]]) -> None:
    """Import `batch` (predictions of tasks in the project) once, whatever the answers
    (annotation.resend.send_once): after an unclear failure the project's tasks are listed
    again and only the predictions not there yet are sent again."""
    todo = batch

    def send() -> int:
        conn.sdk.projects.import_predictions(
            project_id, request=cast(Any, todo), request_options=NO_RETRIES
        )
        return len(batch)

    def arrived() -> int | None:
        nonlocal todo
        listed = prediction_versions(conn, project_id)
        there = {task: had for tasks in listed.values() for task, had in tasks.items()}
        todo = [p for p in todo if p["model_version"] not in there.get(p["task"], set())]
        return None if todo else len(batch)

    send_once(
        conn, f"adding {len(batch)} prediction(s) to tasks already in the project", send=send,
        arrived=arrived, unsent=lambda: f"the {len(todo)} prediction(s) not in the project",
        attempts=ADD_ATTEMPTS, delay_s=ADD_RETRY_DELAY_S,
    )  # fmt: skip
