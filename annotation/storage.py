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
A create whose answer was lost and that was sent again may leave two at the path, and which
is this run's cannot be told: every run of `init` keeps the oldest storage at its photos
folder and deletes the other STORAGE_TITLE ones there, saying so (`drop_duplicates`); a
storage at another folder, or one made by hand under another title, is left alone.

`push` imports a photo only if it is below the path of one of the project's storages
(`check_photos_served`), whoever calls it: a task whose photo no storage serves is never made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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


def _delete(conn: Connection, storage_id: int, doing: str) -> bool:
    """Delete storage `storage_id`; False if it was gone already (another run deleted it)."""
    from label_studio_sdk.core.api_error import ApiError

    with conn.errors(doing):
        try:
            conn.sdk.import_storage.local.delete(storage_id)
        except ApiError as exc:
            if exc.status_code != 404:
                raise
            return False
    return True


def drop_duplicates(conn: Connection, project_id: int, photos_dir: Path, here: list[Any]) -> None:
    """Of the storages `here` (all at `photos_dir`), keep the oldest (lowest id) and delete
    the other STORAGE_TITLE ones: made by `init` runs at the same time, or by a create whose
    answer was lost and that was sent again. Each deletion is logged; none when there is one."""
    here = sorted((s for s in here if s.id is not None), key=lambda s: int(s.id))
    for storage in here[1:]:
        if storage.title != STORAGE_TITLE:
            continue  # made by hand, with its own settings: not init's to delete
        if _delete(conn, storage.id, f"deleting local-files storage {storage.id}, a second one"):
            logger.warning(
                "project %s: a second local-files storage for %s (id %s), also made by another "
                "run at the same time or by a create sent again after its answer was lost, "
                "deleted; the oldest (id %s) kept", project_id, photos_dir, storage.id, here[0].id,
            )  # fmt: skip


def keep_oldest(conn: Connection, project_id: int, photos_dir: Path, *, mine: int | None) -> None:
    """After this run created storage `mine` (None: its answer was lost, and which one is this
    run's cannot be told) the storages are listed again. If an older STORAGE_TITLE storage is at
    another path (another machine's run, with another photos folder), `mine` is deleted and
    `elsewhere` raised; else the oldest at `photos_dir` is kept and the others deleted
    (`drop_duplicates`): `mine` when another run made one at the same time."""
    listed = list_storages(conn, project_id)
    here = storages_at(listed, photos_dir)
    if mine is not None:
        at_path = {id(s) for s in here}
        older = [
            s
            for s in listed
            if s.id is not None and s.id < mine and (id(s) in at_path or s.title == STORAGE_TITLE)
        ]
        first = min(older, key=lambda s: int(s.id), default=None)
        if first is not None and id(first) not in at_path:
            _delete(conn, mine, f"deleting local-files storage {mine}, made by this run")
            raise elsewhere(project_id, first, photos_dir)
    drop_duplicates(conn, project_id, photos_dir, here)


def served_folders(storages: list[Any]) -> list[Path]:
    """The folders (resolved) the storages serve photos from."""
    paths = (Path(s.path or "") for s in storages)
    return [p.resolve() for p in paths if p.is_absolute()]


def check_photos_served(project_id: int, storages: list[Any], photos: Sequence[Path]) -> None:
    """Refuse photos (resolved) that are below the path of none of the project's local-files
    `storages`, before anything is imported: Label Studio would not show them (404)."""
    folders = served_folders(storages)
    unserved = [p for p in photos if not any(f in p.parents for f in folders)]
    if not unserved:
        return
    served = ", ".join(f"{s.path} (storage '{s.title}', id {s.id})" for s in storages)
    where = f"serves photos only from {served}" if storages else "has no local-files storage"
    raise PhotosFolderNotServedError(
        f"project {project_id} {where}, so Label Studio would not show annotators "
        f"{len(unserved)} of the photos to push, e.g. {unserved[0]}, and nothing was "
        "imported; move them into project.photos_folder (configs/annotation.yaml) and run "
        "`shanyraq annotate init`, which makes the storage for that folder, then push again"
    )


def check_served(
    conn: Connection, project_id: int, photos_dir: Path, *, listed: list[Any] | None = None
) -> None:
    """Refuse a photos folder that is not the path of one of the project's local-files
    storages (symlinks followed), before anything is imported: Label Studio would import the
    tasks of its photos and never show them. A photos folder changed in the config since
    `annotate init` made the storage is the usual cause. `listed`: the storages, if listed
    already."""
    photos_dir = photos_dir.resolve()
    listed = list_storages(conn, project_id) if listed is None else listed
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
