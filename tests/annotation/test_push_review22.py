"""What Label Studio can serve (review 22).

`annotate push` of a photo below the document root but outside the photos folder: Label Studio
serves local files only from below a storage's path, and `init` makes one for the photos folder
only, so the task was imported and its image never loaded (404). Push now refuses it, before
any batch is imported.

A document root that Label Studio's LOCAL_FILES_DOCUMENT_ROOT names through a symlink: `init`
followed the symlink and sent the real path, which Label Studio (comparing paths as written)
refused, in a message cut off before the server's root. The path is now spelled from the
server's root, and any other such refusal names both roots in full.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from annotation.cli import app
from annotation.client import LabelStudioError, connect
from annotation.project import init_project
from annotation.tasks import PhotosOutsideFolderError
from shanyraq.manifest import write_manifest
from shanyraq.taxonomy import Taxonomy

from . import label_studio_server_helpers as ls
from .helpers import make_manifest
from .label_studio_server_helpers import LabelStudioServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner()


def _config(path: Path, *, url: str, title: str, document_root: Path) -> Path:
    """An annotation.yaml for `url`: photos in document_root/photos, one task per import."""
    config = {
        "server": {"url": url, "timeout_s": 10},
        "project": {"title": title, "document_root": str(document_root), "photos_folder": "photos"},
        "push": {"batch_size": 1},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _served(url: str, token: str, image: str) -> httpx.Response:
    """The task's image fetched as the annotation page fetches it (relative to the server)."""
    return httpx.get(url + image, headers={"Authorization": f"Token {token}"})


def test_push_refuses_photos_outside_the_photos_folder_and_imports_nothing(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", label_studio.legacy_token)
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    root, title = label_studio.document_root, "Review 22 outside the photos folder"
    config = _config(tmp_path / "a.yaml", url=label_studio.url, title=title, document_root=root)
    assert runner.invoke(app, ["init", "--config", str(config)]).exit_code == 0
    inside = make_manifest(label_studio.photos_dir, tmp_path / "in.csv", 2, prefix="r22in")
    outside = make_manifest(root / "elsewhere-r22", tmp_path / "out.csv", 1, prefix="r22out")
    # Label Studio does not serve a photo there, though it is below its document root.
    gone = _served(
        label_studio.url,
        label_studio.legacy_token,
        "/data/local-files/?d=elsewhere-r22/r22out/photo_0.jpg",
    )
    assert (root / "elsewhere-r22" / "r22out" / "photo_0.jpg").is_file() and gone.status_code == 404

    # The outside photo comes last: a check per batch (of 1) would have imported the others.
    mixed = tmp_path / "mixed.csv"
    write_manifest(mixed, inside + outside)
    result = runner.invoke(app, ["push", str(mixed), "--config", str(config)])
    assert isinstance(result.exception, PhotosOutsideFolderError), result.output
    message = result.exception.message
    assert str(label_studio.photos_dir.resolve()) in message and "photos_folder" in message
    assert "photo_0.jpg" in message and "\n" not in message
    conn = connect(label_studio.url, label_studio.legacy_token)
    (project,) = [p for p in conn.sdk.projects.list() if p.title == title]
    assert list(conn.sdk.tasks.list(project=project.id)) == []

    # The photos in the folder go in, and are served.
    result = runner.invoke(app, ["push", str(tmp_path / "in.csv"), "--config", str(config)])
    assert result.exit_code == 0, result.output
    tasks = list(conn.sdk.tasks.list(project=project.id))
    assert sorted(t.data["sha256"] for t in tasks) == sorted(r.sha256 for r in inside)
    for task in tasks:
        assert _served(label_studio.url, label_studio.legacy_token, task.data["image"]).is_success


def test_a_document_root_not_the_servers_is_refused_naming_both_in_full(
    label_studio: LabelStudioServer, taxonomy: Taxonomy, tmp_path: Path
):
    conn = connect(label_studio.url, label_studio.personal_token)
    other = tmp_path / "another-checkout-with-a-long-name" / "datasets"
    (other / "photos").mkdir(parents=True)
    with pytest.raises(LabelStudioError) as refused:
        init_project(
            conn,
            title="Review 22 another root",
            taxonomy=taxonomy,
            photos_dir=other / "photos",
            document_root=other,
        )
    message = refused.value.message
    assert f'LOCAL_FILES_DOCUMENT_ROOT="{label_studio.document_root}"' in message
    assert f"project.document_root ({other.resolve()}" in message
    assert "400" in message and "\n" not in message


@dataclass(frozen=True)
class LinkedServer:
    url: str
    link: Path  # the server's LOCAL_FILES_DOCUMENT_ROOT: a symlink
    real: Path  # the folder it points to


@pytest.fixture(scope="module")
def linked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedServer]:
    """A second Label Studio whose LOCAL_FILES_DOCUMENT_ROOT is a symlink to the real folder."""
    if not ls.LS_BIN.exists():
        pytest.skip(f"Label Studio is not installed at {ls.LS_BIN}; run scripts/labelstudio.sh")
    base = tmp_path_factory.mktemp("label-studio-linked")
    real, link, data = base / "real-root", base / "linked-root", base / "data"
    (real / "photos").mkdir(parents=True)
    link.symlink_to(real, target_is_directory=True)
    data.mkdir()
    if ls.TEMPLATE_DB.exists():
        shutil.copyfile(ls.TEMPLATE_DB, data / ls.TEMPLATE_DB.name)
    port = ls.free_port()
    url, log = f"http://127.0.0.1:{port}", base / "server.log"
    command = [str(ls.LS_BIN), "start", "--no-browser", "--internal-host", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "-p", str(port)],
            env=ls.server_env(data, link),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=base,
            start_new_session=True,
        )
    try:
        ls.wait_ready(url, proc, log, ls.READY_DEADLINE_S)
        yield LinkedServer(url, link, real)
    finally:
        ls.stop(proc)


def test_init_and_push_under_a_document_root_the_server_names_through_a_symlink(
    linked_server: LinkedServer, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", ls.LEGACY_TOKEN)
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    url, title = linked_server.url, "Review 22 linked root"
    # As the server is told: project.document_root is the symlink, as it must be.
    config = _config(tmp_path / "a.yaml", url=url, title=title, document_root=linked_server.link)
    result = runner.invoke(app, ["init", "--config", str(config)])
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["init", "--config", str(config)])
    assert again.exit_code == 0 and "found project" in again.output, again.output
    conn = connect(url, ls.LEGACY_TOKEN)
    (project,) = [p for p in conn.sdk.projects.list() if p.title == title]
    storages = list(conn.sdk.import_storage.local.list(project=project.id))
    assert [s.path for s in storages] == [str(linked_server.link / "photos")]

    rows = make_manifest(linked_server.link / "photos", tmp_path / "m.csv", 2, prefix="linked")
    result = runner.invoke(app, ["push", str(tmp_path / "m.csv"), "--config", str(config)])
    assert result.exit_code == 0, result.output
    tasks = list(conn.sdk.tasks.list(project=project.id))
    assert sorted(t.data["sha256"] for t in tasks) == sorted(r.sha256 for r in rows)
    for task in tasks:
        served = _served(url, ls.LEGACY_TOKEN, task.data["image"])
        assert served.status_code == 200
        assert served.content == (linked_server.real / task.data["photo"]).read_bytes()
