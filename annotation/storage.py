"""The local-files storages through which Label Studio serves the project's photos in place.

Label Studio shows a task's photo only if it is below the path of a local-files storage.
`annotate init` makes one (STORAGE_TITLE) at the photos folder (`annotation.project`);
`push` imports photos only from a folder the project really lists as a storage
(`check_served`), not from wherever configs/annotation.yaml says now: a photos folder changed
there since `init` would get tasks imported and never shown (404).

Runs of `init` on two machines at once (one server; the local lock covers one machine) may
each find no storage and create one. After its create each lists the storages again and, if
one older than its own (lower id) is at its path, or is another run's STORAGE_TITLE storage
elsewhere, deletes its own (`keep_oldest`). Every run applies the same rule to the ids the
server gave, so the oldest stays and the rest go, whatever the timing, provided a storage
given a lower id is listed once a later create has been answered: so with SQLite, whose
writes take turns. On PostgreSQL two creates in the same instant may, rarely, both stay.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from annotation.client import Connection
from shanyraq.errors import ShanyraqError

logger = logging.getLogger(__name__)

STORAGE_TITLE = "shanyraq photos"  # the local-files storage `init` makes


class StorageElsewhereError(ShanyraqError):
    code = "annotation_storage_elsewhere"
    http_status = 409


class PhotosFolderNotServedError(StorageElsewhereError):
    code = "annotation_photos_folder_not_served"


def list_storages(conn: Connection, project_id: int) -> list[Any]:
    with conn.errors("listing the project's local-files storages"):
        return list(conn.sdk.import_storage.local.list(project=project_id))


def storages_at(storages: list[Any], photos_dir: Path) -> list[Any]:
    """The storages at `photos_dir` (resolved): their path as sent, or one resolving to it here."""
    paths = ((s, Path(s.path or "")) for s in storages)
    return [s for s, p in paths if photos_dir in (p, p.is_absolute() and p.resolve())]


def said(body: object) -> str:
    """A Label Studio refusal in its own words, in full, on one line: its validation errors."""
    if isinstance(body, dict):
        return said(body.get("validation_errors") or list(body.values()))
    words = map(said, body) if isinstance(body, list) else f"{body}".split()
    return " ".join(words)


def elsewhere(project_id: int, other: Any, photos_dir: Path) -> StorageElsewhereError:
    """`init`'s refusal of a photos folder that is not the path of the project's storage."""
    return StorageElsewhereError(
        f"project {project_id} already serves its photos from {other.path} (local-files "
        f"storage '{STORAGE_TITLE}', id {other.id}), not from this run's {photos_dir}: "
        "project.document_root in configs/annotation.yaml must be the server's "
        "LOCAL_FILES_DOCUMENT_ROOT, with the photos in project.photos_folder below it; fix "
        "them, or, if the photos have moved for good, change that storage's path in Label "
        "Studio (project Settings > Cloud Storage) and run init again"
    )


def keep_oldest(conn: Connection, project_id: int, photos_dir: Path, *, mine: int | None) -> None:
    """After this run created storage `mine` (None: its answer was lost, and which one is this
    run's cannot be told), delete it if an older one is at `photos_dir` (made by another run at
    the same time), or raise `elsewhere` once it is deleted if an older STORAGE_TITLE storage is
    at another path (another machine's run, with another photos folder)."""
    if mine is None:
        return
    listed = list_storages(conn, project_id)
    here = {id(s) for s in storages_at(listed, photos_dir)}
    older = [
        s
        for s in listed
        if s.id is not None and s.id < mine and (id(s) in here or s.title == STORAGE_TITLE)
    ]
    if not older:
        return
    with conn.errors(f"deleting local-files storage {mine}, a second one made by this run"):
        conn.sdk.import_storage.local.delete(mine)
    kept = min(older, key=lambda s: int(s.id))
    if id(kept) not in here:
        raise elsewhere(project_id, kept, photos_dir)
    logger.warning(
        "project %s: the storage for %s was also made by another run (id %s): this run's "
        "(id %s) deleted", project_id, photos_dir, kept.id, mine,
    )  # fmt: skip


def check_served(conn: Connection, project_id: int, photos_dir: Path) -> None:
    """Refuse a photos folder that is not the path of one of the project's local-files
    storages (symlinks followed), before anything is imported: Label Studio would import the
    tasks of its photos and never show them. A photos folder changed in the config since
    `annotate init` made the storage is the usual cause."""
    photos_dir = photos_dir.resolve()
    listed = list_storages(conn, project_id)
    if storages_at(listed, photos_dir):
        return
    if not listed:
        raise PhotosFolderNotServedError(
            f"project {project_id} has no local-files storage, so Label Studio would not show "
            f"annotators the photos in {photos_dir} (project.photos_folder) and nothing was "
            "imported; run `shanyraq annotate init`, which makes one for that folder, then push "
            "again"
        )
    served = ", ".join(f"{s.path} (storage '{s.title}', id {s.id})" for s in listed)
    raise PhotosFolderNotServedError(
        f"project {project_id} serves photos only from {served}, not from the photos folder "
        f"{photos_dir} (project.photos_folder in configs/annotation.yaml, changed since "
        "`shanyraq annotate init`?), so Label Studio would not show annotators these photos "
        "and nothing was imported; set project.photos_folder back to the storage's folder, or, "
        "if the photos have moved for good, change that storage's path in Label Studio "
        "(project Settings > Cloud Storage) to the new folder and run `shanyraq annotate init` "
        "again to check it"
    )
