"""Review 16 of the project set-up: escaping, order, hand-changed configs, storage paths."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from annotation.client import Connection, connect
from annotation.label_config import build_label_config
from annotation.project import (
    PhotosOutsideRootError,
    ProjectTaxonomyMismatchError,
    find_project,
    init_project,
    open_project,
)
from shanyraq.taxonomy import Taxonomy
from tests.annotation.helpers import choices

from .label_studio_server_helpers import LabelStudioServer

TRICKY = 'Kitchen & "stove" <hob> it\'s — кухня, ас үй'


def _tricky(taxonomy: Taxonomy) -> Taxonomy:
    """The taxonomy with descriptions holding XML's special characters and Cyrillic."""
    data = taxonomy.model_dump()
    data["room"]["description"] = "Room <one> & only 'one'"
    data["room"]["classes"][0]["description"] = TRICKY
    data["condition"]["grades"][1]["description"] = 'Сырость & плесень, "трещины" <2>'
    data["signs"]["classes"][0]["description"] = "Damp & mould > 1 m² — ылғал"
    return Taxonomy.model_validate(data)


def _reordered(taxonomy: Taxonomy) -> Taxonomy:
    data = taxonomy.model_dump()
    data["room"]["classes"].reverse()
    data["signs"]["classes"].reverse()
    return Taxonomy.model_validate(data)


def test_special_characters_and_cyrillic_survive_in_hints(taxonomy):
    tricky = _tricky(taxonomy)
    config = build_label_config(tricky)
    assert [c.get("hint") for c in choices(config, "room")] == [
        c.description for c in tricky.room.classes
    ]
    assert [c.get("hint") for c in choices(config, "condition")] == [
        g.description for g in tricky.condition.grades
    ]
    assert [c.get("hint") for c in choices(config, "signs")] == [
        s.description for s in tricky.signs.classes
    ]
    headers = [h.get("value") for h in ET.fromstring(config).iter("Header")]
    assert headers[0] == "Room: " + tricky.room.description


def test_choices_follow_the_taxonomy_order_not_the_alphabet(taxonomy):
    reordered = _reordered(taxonomy)
    config = build_label_config(reordered)
    assert [c.get("value") for c in choices(config, "room")] == reordered.room_names
    assert [c.get("value") for c in choices(config, "signs")] == reordered.sign_names
    assert reordered.room_names != taxonomy.room_names


# --- against the real server -------------------------------------------------------------


@pytest.fixture(scope="module")
def conn(label_studio: LabelStudioServer) -> Connection:
    return connect(label_studio.url, label_studio.personal_token)


def _init(conn, title, taxonomy, label_studio, photos_dir=None, document_root=None):
    return init_project(
        conn,
        title=title,
        taxonomy=taxonomy,
        photos_dir=label_studio.photos_dir if photos_dir is None else photos_dir,
        document_root=label_studio.document_root if document_root is None else document_root,
    )


@pytest.mark.integration
@pytest.mark.slow
def test_the_server_keeps_escaped_hints_as_written(conn, taxonomy, label_studio):
    tricky = _tricky(taxonomy)
    info = _init(conn, "Review16 tricky", tricky, label_studio)
    config = conn.sdk.projects.get(info.id).label_config
    assert choices(config, "room")[0].get("hint") == TRICKY
    # The stored config is the one made: reopening it is not taken for a hand change.
    assert open_project(conn, title="Review16 tricky", taxonomy=tricky) == info.id


@pytest.mark.integration
@pytest.mark.slow
def test_project_records_the_taxonomy_version_and_a_title(conn, taxonomy, label_studio):
    info = _init(conn, "Review16 marker", taxonomy, label_studio)
    project = conn.sdk.projects.get(info.id)
    assert project.title == "Review16 marker"
    assert f"version={taxonomy.version} " in project.description
    assert info.taxonomy_version == taxonomy.version


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("change", ["drop_sign", "add_room", "reorder_grades", "unhide"])
def test_a_config_changed_by_hand_is_detected_and_init_restores_it(
    conn, taxonomy, label_studio, change
):
    title = f"Review16 hand {change}"
    info = _init(conn, title, taxonomy, label_studio)
    made = build_label_config(taxonomy)
    edits = {
        "drop_sign": lambda c: c.replace(_line(c, 'value="premium_finishes"'), ""),
        "add_room": lambda c: c.replace(
            _line(c, 'value="kitchen"'),
            _line(c, 'value="kitchen"') + '    <Choice value="hallway"/>\n',
        ),
        "reorder_grades": lambda c: (
            c.replace('"1 emergency"', '"X"')
            .replace('"2 poor"', '"1 emergency"')
            .replace('"X"', '"2 poor"')
        ),
        "unhide": lambda c: c.replace('visibleWhen="choice-unselected"', ""),
    }
    changed = edits[change](made)
    assert changed != made
    conn.sdk.projects.update(info.id, label_config=changed)
    with pytest.raises(ProjectTaxonomyMismatchError, match="changed in Label Studio") as err:
        open_project(conn, title=title, taxonomy=taxonomy)
    assert "shanyraq annotate init" in str(err.value)
    again = _init(conn, title, taxonomy, label_studio)
    assert (again.id, again.created) == (info.id, False)
    assert open_project(conn, title=title, taxonomy=taxonomy) == info.id
    assert _same_controls(conn.sdk.projects.get(info.id).label_config, made)


def _line(config: str, needle: str) -> str:
    return next(line + "\n" for line in config.splitlines() if needle in line)


def _same_controls(a: str, b: str) -> bool:
    def norm(c: str) -> str:
        return ET.canonicalize(c, strip_text=True)

    return norm(a) == norm(b)


@pytest.mark.integration
@pytest.mark.slow
def test_a_harmless_reformatting_is_not_a_hand_change(conn, taxonomy, label_studio):
    title = "Review16 reformatted"
    info = _init(conn, title, taxonomy, label_studio)
    spaced = build_label_config(taxonomy).replace("\n", "\n\n  ").replace("/>", " />")
    conn.sdk.projects.update(info.id, label_config=spaced)
    assert open_project(conn, title=title, taxonomy=taxonomy) == info.id


@pytest.mark.integration
@pytest.mark.slow
def test_init_twice_through_another_spelling_of_the_folder_keeps_one_storage(
    conn, taxonomy, label_studio
):
    title = "Review16 twice"
    first = _init(conn, title, taxonomy, label_studio)
    spelled = label_studio.document_root / "elsewhere" / ".." / label_studio.photos_dir.name
    second = _init(conn, title, taxonomy, label_studio, photos_dir=spelled)
    assert (second.id, second.created) == (first.id, False)
    assert len(conn.sdk.import_storage.local.list(project=first.id)) == 1
    assert len([p for p in conn.sdk.projects.list() if p.title == title]) == 1


def _outside(label_studio: LabelStudioServer, tmp_path: Path, case: str) -> Path:
    root = label_studio.document_root
    if case == "outside":
        out = tmp_path / "elsewhere"
        out.mkdir()
        return out
    if case == "symlink_out":
        target = tmp_path / "target"
        target.mkdir()
        link = root / f"link-out-{tmp_path.name}"
        link.symlink_to(target, target_is_directory=True)
        return link
    if case == "dot_dot":
        return root / "photos" / ".." / ".."
    if case == "the_root_itself":
        return root
    if case == "relative":
        return Path(label_studio.photos_dir.name)
    if case == "a_file":
        photo = root / f"not-a-folder-{tmp_path.name}.jpg"
        photo.write_bytes(b"x")
        return photo
    assert case == "missing"
    return root / "no-such-folder"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("outside", "not below the document root"),
        ("symlink_out", "not below the document root"),
        ("dot_dot", "not below the document root"),
        ("the_root_itself", "not below the document root"),
        ("relative", "absolute"),
        ("a_file", "not a folder"),
        ("missing", "does not exist"),
    ],
)
def test_a_photos_folder_label_studio_must_not_serve_is_refused_before_anything_is_made(
    conn, taxonomy, label_studio, tmp_path, monkeypatch, case, words
):
    # From the document root, a relative path would name the right folder: still refused.
    monkeypatch.chdir(label_studio.document_root)
    title = f"Review16 refused {case}"
    photos = _outside(label_studio, tmp_path, case)
    with pytest.raises(PhotosOutsideRootError, match=words) as err:
        _init(conn, title, taxonomy, label_studio, photos_dir=photos)
    assert "\n" not in str(err.value)
    assert find_project(conn, title) is None


@pytest.mark.integration
@pytest.mark.slow
def test_a_relative_document_root_is_refused(conn, taxonomy, label_studio, monkeypatch):
    monkeypatch.chdir(label_studio.document_root.parent)
    with pytest.raises(PhotosOutsideRootError, match="absolute"):
        _init(
            conn,
            "Review16 relative root",
            taxonomy,
            label_studio,
            document_root=Path(label_studio.document_root.name),
        )
    assert find_project(conn, "Review16 relative root") is None
