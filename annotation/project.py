"""The Label Studio project: created from the taxonomy, with local-files storage for photos.

Photos stay where they are: Label Studio serves them from under its LOCAL_FILES_DOCUMENT_ROOT
through a local-files storage connection, which `init_project` creates (never syncs: tasks are
imported by `push`, with their pre-annotations). A project made with another taxonomy version
is detected from the marker in its description and refused; a labelling config changed by hand
in Label Studio is refused too, and `init_project` puts back the one made from the taxonomy.

Neither the project nor its storage is ever created twice. The SDK would retry a create's POST
on a 5xx answer or a dropped connection, and Label Studio may have saved it before failing:
two projects with one title, or two storages on one project. Each create is sent without the
SDK's retries, and after an answer that leaves it unclear the project is looked up by title
(the storage by path) before it is sent again (`_create_once`), as `push` does for imports.

Two runs of `init` at once (or a run after a create that timed out but was saved all the same)
may each find no project and create one. One user's runs on one machine take turns
(`_local_lock`); for the rest, the projects with the title are listed again after a create:
the oldest is kept, and this run's own, if newer and still empty, is deleted (`_settle`). Any
other pair with one title is refused, naming both ids, here and by every later command. A run
whose photos folder is not that of the project's storage (another checkout's or machine's
document root) is refused, naming the storage's path, not given a second (`_ensure_storage`);
a storage two runs made at once, or a second one left by a create whose answer was lost, is
settled by the rule in `annotation.storage` (by this run of `init` or the next one).
"""

from __future__ import annotations

import hashlib
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotation.client import NO_RETRIES, Connection, LabelStudioError
from annotation.label_config import build_label_config, read_marker, taxonomy_marker
from annotation.local_lock import local_lock
from annotation.resend import send_once
from annotation.storage import STORAGE_TITLE as STORAGE_TITLE
from annotation.storage import StorageElsewhereError as StorageElsewhereError
from annotation.storage import (
    drop_duplicates,
    elsewhere,
    keep_oldest,
    list_storages,
    said,
    storages_at,
)
from shanyraq.errors import ShanyraqError
from shanyraq.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

CREATE_ATTEMPTS = 3  # per project or storage, as the SDK's own retries (one try and two more)
CREATE_RETRY_DELAY_S = 1.0  # before the second attempt; doubled before each next one


class ProjectNotFoundError(ShanyraqError):
    code = "annotation_project_missing"
    http_status = 404


class ProjectTaxonomyMismatchError(ShanyraqError):
    code = "annotation_taxonomy_mismatch"
    http_status = 409


class ProjectConfigChangedError(ProjectTaxonomyMismatchError):
    code = "annotation_config_changed"


class PhotosOutsideRootError(ShanyraqError):
    code = "annotation_photos_outside_root"


class DuplicateProjectsError(ShanyraqError):
    code = "annotation_duplicate_projects"
    http_status = 409


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    title: str
    taxonomy_version: int
    photos_dir: Path
    document_root: Path
    created: bool = False


def _projects_titled(conn: Connection, title: str) -> list[Any]:
    """Every project titled exactly `title`, oldest (lowest id) first."""
    with conn.errors("listing projects"):
        projects: list[Any] = list(conn.sdk.projects.list(title=title))
    return sorted(
        (p for p in projects if p.title == title), key=lambda p: (p.id is None, p.id or 0)
    )


def _duplicates(conn: Connection, title: str, projects: list[Any]) -> DuplicateProjectsError:
    def described(project: Any) -> str:
        tasks = getattr(project, "task_number", None)
        return f"id {project.id}" + ("" if tasks is None else f" ({tasks} tasks)")

    return DuplicateProjectsError(
        f"Label Studio at {conn.url} has {len(projects)} projects titled '{title}': "
        f"{', '.join(described(p) for p in projects)}, and which one is meant cannot be told; "
        "if `shanyraq annotate init` is running elsewhere, run again once it has finished (it "
        "removes a second project it made); otherwise keep one and delete the others in Label "
        "Studio (project settings, Danger Zone) once they hold nothing you need, or set another "
        "project.title in configs/annotation.yaml"
    )


def find_project(conn: Connection, title: str) -> Any | None:
    """The project titled `title`, or None; DuplicateProjectsError when there are several."""
    projects = _projects_titled(conn, title)
    if len(projects) > 1:
        raise _duplicates(conn, title, projects)
    return projects[0] if projects else None


def check_taxonomy(project: Any, taxonomy: Taxonomy) -> int:
    """The project's taxonomy version; raises if it is not the installation's taxonomy."""
    marker = read_marker(project.description)
    if marker is None:
        raise ProjectTaxonomyMismatchError(
            f"project '{project.title}' (id {project.id}) was not made by `shanyraq annotate "
            "init` (no taxonomy marker in its description); choose another title in "
            "configs/annotation.yaml"
        )
    version, fingerprint = marker
    if fingerprint != taxonomy.fingerprint():
        raise ProjectTaxonomyMismatchError(
            f"project '{project.title}' (id {project.id}) labels taxonomy version {version} "
            f"({fingerprint[:12]}), but configs/taxonomy.yaml is version {taxonomy.version} "
            f"({taxonomy.fingerprint()[:12]}); pull its annotations, then start a new project "
            "with another title (project.title in configs/annotation.yaml)"
        )
    return version


def _canonical(config: str) -> str | None:
    """The config with layout whitespace and attribute order ignored; None if not XML."""
    try:
        return ET.canonicalize(config, strip_text=True)
    except ET.ParseError:
        return None


def _config_changed(project: Any, taxonomy: Taxonomy) -> bool:
    """Whether the project's labelling config is no longer the one made from `taxonomy` (an
    edit in Label Studio's settings): a choice added, dropped, renamed or re-ordered, a
    control made optional or always shown. Re-spacing the XML is no change. Label Studio's
    project list carries the config; an answer without one is not checked."""
    stored = getattr(project, "label_config", None)
    if stored is None:
        return False
    return _canonical(stored) != _canonical(build_label_config(taxonomy))


def _check_photos_dir(photos_dir: Path, document_root: Path) -> tuple[Path, Path]:
    """Both paths resolved (symlinks followed), once the photos folder is known to be a folder
    strictly below the document root; a relative path is refused, not read from the cwd."""
    for what, path in (("photos folder", photos_dir), ("document root", document_root)):
        if not path.is_absolute():
            raise PhotosOutsideRootError(
                f"the {what} {path} is relative, and Label Studio would not find it from its "
                "own folder; pass it as an absolute path"
            )
    photos_dir, document_root = photos_dir.resolve(), document_root.resolve()
    if document_root not in photos_dir.parents:
        raise PhotosOutsideRootError(
            f"{photos_dir} is not below the document root {document_root}; Label Studio serves "
            "only a sub-folder of its LOCAL_FILES_DOCUMENT_ROOT: move the photos there or "
            "change project.document_root / project.photos_folder"
        )
    if not photos_dir.exists():
        raise PhotosOutsideRootError(f"{photos_dir} does not exist; create it or fix the config")
    if not photos_dir.is_dir():
        raise PhotosOutsideRootError(
            f"{photos_dir} is not a folder; set project.photos_folder to the folder of the photos"
        )
    return photos_dir, document_root


def _create_once(
    conn: Connection, what: str, *, create: Callable[[], Any], find: Callable[[], Any | None]
) -> Any:
    """`create()` made exactly once, whatever the answers (annotation.resend.send_once):
    after an unclear failure `find()` looks for it before it is sent again."""
    return send_once(
        conn, f"creating {what}", send=create, arrived=find, unsent=lambda: what,
        attempts=CREATE_ATTEMPTS, delay_s=CREATE_RETRY_DELAY_S,
    )  # fmt: skip


def _ensure_storage(conn: Connection, project_id: int, photos_dir: Path, root: Path) -> None:
    """A storage for `photos_dir` below the document root `root` (both resolved); the project's
    own (STORAGE_TITLE) at another path is refused, not doubled, also when another run made it
    at the same time (`keep_oldest`); of several at `photos_dir`, the oldest is kept and the
    other STORAGE_TITLE ones deleted (`drop_duplicates`). Refused by Label Studio as not below
    its root, a symlink to `root`, the path is sent again spelled from that root."""
    from label_studio_sdk.core.api_error import ApiError

    existing = list_storages(conn, project_id)
    if here := storages_at(existing, photos_dir):
        drop_duplicates(conn, project_id, photos_dir, here)  # a lost answer's second, if any
        return
    for other in (s for s in existing if s.title == STORAGE_TITLE):
        raise elsewhere(project_id, other, photos_dir)
    answered: list[int | None] = []  # the id this run's create was answered with

    def create(path: Path) -> Any:
        try:
            return conn.sdk.import_storage.local.create(
                project=project_id, path=str(path), title=STORAGE_TITLE, use_blob_urls=True,
                description="Photos served in place; tasks are imported by shanyraq annotate push",
                request_options=NO_RETRIES,
            )  # fmt: skip
        except ApiError as exc:
            if exc.status_code != 400:
                raise
            words = said(exc.body)
            found = re.search(r'LOCAL_FILES_DOCUMENT_ROOT="([^"]+)"', words)  # as it quotes it
            server_root = Path(found.group(1)) if found else None
            if path == photos_dir and server_root and server_root.resolve() == root != server_root:
                logger.info("Label Studio's document root %s is a symlink to %s", server_root, root)
                return create(server_root / photos_dir.relative_to(root))
            hint = "" if server_root is None else (
                f"; project.document_root ({root}, symlinks followed) must be the folder the "
                f"server's LOCAL_FILES_DOCUMENT_ROOT {server_root} names (Label Studio compares "
                "paths as written): set one to the other, and run init again"
            )  # fmt: skip
            raise LabelStudioError(
                f"Label Studio at {conn.url} refused {path} as the path of the project's "
                f"local-files storage (400): {words}{hint}"
            ) from None

    def create_mine() -> Any:
        storage = create(photos_dir)
        answered.append(storage.id)
        return storage

    _create_once(
        conn, f"the local-files storage for {photos_dir}", create=create_mine,
        find=lambda: next(iter(storages_at(list_storages(conn, project_id), photos_dir)), None),
    )  # fmt: skip
    keep_oldest(conn, project_id, photos_dir, mine=answered[0] if answered else None)


def _local_lock(url: str, title: str) -> AbstractContextManager[bool]:
    """One user's runs of `init` on this machine for one project take turns (a file lock,
    `annotation.local_lock`). Where it cannot be had the run goes on: `_settle` still finds a
    second project made at the same time."""
    digest = hashlib.sha256(f"{url}\0{title}".encode()).hexdigest()[:16]
    return local_lock(
        f"annotate-init-{digest}.lock",
        waiting=lambda: logger.info(
            "waiting for another `annotate init` of project '%s' here", title
        ),
    )


def _is_empty(conn: Connection, project: Any) -> bool:
    """No tasks and no local-files storage (an unknown task count is not empty)."""
    return getattr(project, "task_number", None) == 0 and not list_storages(conn, project.id)


def _settle(conn: Connection, title: str, *, mine: int | None) -> Any:
    """The one project titled `title` once this run has created one (`mine`: the id its create
    was answered with, None when the answer was lost). Another made at the same time, or by a
    run whose create timed out but was saved, is a second: the oldest is kept, and this run's
    own, if newer and still empty, deleted; any other pair is refused, naming both."""
    projects = _projects_titled(conn, title)
    own = next((p for p in projects if p.id == mine), None)
    if own is not None and projects[0].id != mine and _is_empty(conn, own):
        with conn.errors(f"deleting project {mine}, a second '{title}' made by this run"):
            conn.sdk.projects.delete(own.id)
        logger.warning(
            "project '%s' was also made by another run (id %s): this run's (id %s) deleted",
            title, projects[0].id, own.id,
        )  # fmt: skip
        projects.remove(own)
    if len(projects) > 1:
        raise _duplicates(conn, title, projects)
    if not projects:
        raise LabelStudioError(
            f"Label Studio at {conn.url} created project '{title}' (id {mine}) but does not list "
            "it (deleted since?); run `shanyraq annotate init` again"
        )
    return projects[0]


def _create_project(conn: Connection, title: str, taxonomy: Taxonomy) -> tuple[Any, int | None]:
    """The project created (or the one found after an unclear answer) and the id its create was
    answered with: None when the answer was lost, and the project found may be another run's."""
    answered: list[int | None] = []

    def create() -> Any:
        project = conn.sdk.projects.create(
            title=title,
            label_config=build_label_config(taxonomy),
            description=f"Shanyraq photo labelling. {taxonomy_marker(taxonomy)}",
            show_collab_predictions=True,
            request_options=NO_RETRIES,
        )
        answered.append(project.id)
        return project

    def oldest() -> Any | None:
        return next(iter(_projects_titled(conn, title)), None)

    project = _create_once(conn, f"project '{title}'", create=create, find=oldest)
    return project, answered[0] if answered else None


def _check_existing(conn: Connection, project: Any, taxonomy: Taxonomy) -> None:
    """Refuse a project of another taxonomy; put back a labelling config changed by hand."""
    check_taxonomy(project, taxonomy)
    if _config_changed(project, taxonomy):
        logger.warning(
            "project '%s' (id %s): labelling config changed by hand; restoring it",
            project.title, project.id,
        )  # fmt: skip
        with conn.errors("restoring the project's labelling config"):
            conn.sdk.projects.update(project.id, label_config=build_label_config(taxonomy))


def init_project(
    conn: Connection, *, title: str, taxonomy: Taxonomy, photos_dir: Path, document_root: Path
) -> ProjectInfo:
    """Create the project (or reuse one with the same taxonomy) and its local-files storage."""
    photos_dir, document_root = _check_photos_dir(photos_dir, document_root)
    with _local_lock(conn.url, title):
        project: Any = find_project(conn, title)
        made, mine = None, None
        if project is None:
            made, mine = _create_project(conn, title, taxonomy)
            project = _settle(conn, title, mine=mine)
        created = made is not None and project.id == made.id
        if created:
            logger.info("created project '%s' (id %s)", title, project.id)
        if project.id is None:
            raise LabelStudioError(f"Label Studio returned project '{title}' without an id")
        if project.id != mine:  # not the one this run's create was answered with
            _check_existing(conn, project, taxonomy)
        _ensure_storage(conn, project.id, photos_dir, document_root)
    return ProjectInfo(
        id=project.id,
        title=title,
        taxonomy_version=taxonomy.version,
        photos_dir=photos_dir,
        document_root=document_root,
        created=created,
    )


def open_project(conn: Connection, *, title: str, taxonomy: Taxonomy) -> int:
    """The id of an existing project made with this taxonomy."""
    project = find_project(conn, title)
    if project is None:
        raise ProjectNotFoundError(
            f"no Label Studio project titled '{title}'; run `shanyraq annotate init` first"
        )
    check_taxonomy(project, taxonomy)
    if _config_changed(project, taxonomy):
        raise ProjectConfigChangedError(
            f"the labelling config of project '{title}' (id {project.id}) is not the one made "
            "from configs/taxonomy.yaml (changed in Label Studio, or made by an older version), "
            "so its answers may not be the taxonomy's; run `shanyraq annotate init` to put the "
            "current one in place"
        )
    return int(project.id)


def set_model_version(conn: Connection, project_id: int, model_version: str) -> None:
    """Make the project show (and compare annotations with) this model's predictions."""
    with conn.errors("setting the project's model version"):
        conn.sdk.projects.update(project_id, model_version=model_version)
