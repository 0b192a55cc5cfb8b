"""Against a real Label Studio: project, pre-annotated push, annotators, pull, errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from annotation.agreement import krippendorff_alpha
from annotation.client import (
    Connection,
    LabelStudioAuthError,
    LabelStudioUnreachableError,
    connect,
)
from annotation.export import pull
from annotation.label_config import PhotoLabels, result_from_labels
from annotation.project import (
    ProjectInfo,
    ProjectTaxonomyMismatchError,
    init_project,
    open_project,
)
from annotation.settings import load_annotation_config
from annotation.tasks import PushReport, push_rows
from shanyraq.manifest import ManifestRow, read_manifest
from shanyraq.manifest_check import check_manifest
from shanyraq.taxonomy import Taxonomy
from tests.annotation.project_helpers import init_on_server

from .helpers import make_manifest, score_for, unread_score
from .label_studio_server_helpers import LabelStudioServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

L = PhotoLabels
PREDICTED = [
    L("kitchen", 3, frozenset({"damp_mould"})),
    L("bedroom", 2, frozenset()),
    L("kitchen", 3, frozenset()),
    L("living_room", 4, frozenset({"premium_appliances"})),
    L("bathroom", 3, frozenset()),
]  # photo 5 has no prediction: the model gave no numbers for it (NaN)
ND = L("not_dwelling", None, frozenset())
PUSH = load_annotation_config().push  # the shipped sign threshold and batch size
# Per photo: (annotator index, labels, cancelled)
VOTES: list[list[tuple[int, PhotoLabels, bool]]] = [
    [(i, L("kitchen", 3, frozenset({"damp_mould"})), False) for i in range(3)],
    [
        (0, L("bedroom", 2, frozenset()), False),
        (1, L("bedroom", 2, frozenset()), False),
        (2, L("living_room", 3, frozenset({"overcrowding"})), False),
    ],
    [(i, ND, False) for i in range(3)],
    [
        (0, L("living_room", 4, frozenset({"premium_appliances"})), False),
        (1, L("living_room", 5, frozenset({"premium_appliances"})), False),
        (2, L("living_room", 5, frozenset()), True),
    ],
    [(0, L("bathroom", 3, frozenset({"broken_window"})), False)],
    [],
]


@dataclass(frozen=True)
class RoundTrip:
    conn: Connection
    info: ProjectInfo
    rows: list[ManifestRow]
    push: PushReport
    work: Path


@pytest.fixture(scope="module")
def round_trip(label_studio: LabelStudioServer, taxonomy: Taxonomy, tmp_path_factory):
    """init -> push with predictions -> annotators label through the API."""
    work = tmp_path_factory.mktemp("round-trip")
    rows = make_manifest(label_studio.photos_dir, work / "in" / "manifest.csv", 6, prefix="rt")
    conn = connect(label_studio.url, label_studio.personal_token)
    info = init_on_server(conn, "Round trip", taxonomy, label_studio)
    scores = {
        r.sha256: score_for(r.sha256, p, taxonomy) for r, p in zip(rows, PREDICTED, strict=False)
    }
    # The last photo: the model gave no numbers (NaN), so it goes without a prediction.
    scores[rows[-1].sha256] = unread_score(rows[-1].sha256, taxonomy)
    report = push_rows(
        conn,
        info.id,
        rows,
        manifest_root=work / "in",
        document_root=label_studio.document_root,
        scores=scores,
        taxonomy=taxonomy,
        sign_threshold=PUSH.sign_threshold,
        batch_size=4,
    )
    task_by_sha = {
        t.data["sha256"]: t.id for t in conn.sdk.tasks.list(project=info.id, page_size=100)
    }
    for row, votes in zip(rows, VOTES, strict=True):
        for who, labels, cancelled in votes:
            conn.sdk.annotations.create(
                task_by_sha[row.sha256],
                result=result_from_labels(taxonomy, labels),
                completed_by=label_studio.annotator_ids[who],
                was_cancelled=cancelled,
            )
    return RoundTrip(conn, info, rows, report, work)


def test_push_imports_every_photo_with_predictions(round_trip, taxonomy):
    conn, info, report = round_trip.conn, round_trip.info, round_trip.push
    assert (report.created, report.with_predictions, report.skipped_existing) == (6, 5, 0)
    assert report.unanswered == 1
    tasks = list(conn.sdk.tasks.list(project=info.id, fields="all", page_size=100))
    assert len(tasks) == 6
    predictions = [p for t in tasks for p in (t.predictions or [])]
    assert len(predictions) == 5
    assert {p.model_version for p in predictions} == {"test-model-1"}
    assert all(0.0 <= p.score <= 1.0 for p in predictions)
    assert all(t.data["image"].startswith("/data/local-files/?d=photos/rt/") for t in tasks)


def _push_without_scores(conn, project_id, rows, manifest_root, label_studio, taxonomy):
    return push_rows(
        conn,
        project_id,
        rows,
        manifest_root=manifest_root,
        document_root=label_studio.document_root,
        scores={},
        taxonomy=taxonomy,
        sign_threshold=PUSH.sign_threshold,
        batch_size=PUSH.batch_size,
    )


def test_push_again_skips_photos_already_there(round_trip, taxonomy, label_studio):
    conn, info, rows, work = round_trip.conn, round_trip.info, round_trip.rows, round_trip.work
    again = _push_without_scores(conn, info.id, rows, work / "in", label_studio, taxonomy)
    assert (again.created, again.skipped_existing) == (0, 6)


def test_init_again_reuses_project_and_storage(round_trip, taxonomy, label_studio):
    conn, info = round_trip.conn, round_trip.info
    again = init_on_server(conn, "Round trip", taxonomy, label_studio)
    assert (again.id, again.created) == (info.id, False)
    storages = conn.sdk.import_storage.local.list(project=info.id)
    assert len(storages) == 1


def test_photos_are_served_in_place_and_nothing_else(round_trip, label_studio):
    rows, work = round_trip.rows, round_trip.work
    headers = {"Authorization": f"Token {label_studio.legacy_token}"}
    photo = (work / "in" / rows[0].path).resolve()
    served = httpx.get(
        f"{label_studio.url}/data/local-files/?d=photos/rt/photo_0.jpg", headers=headers
    )
    assert served.status_code == 200 and served.content == photo.read_bytes()
    database = f"{label_studio.url}/data/local-files/?d=../data/label_studio.sqlite3"
    assert httpx.get(database, headers=headers).status_code != 200


def _pull(conn, info, taxonomy, out, method):
    """`pull` of the project `info` into `out`, merging by `method`."""
    return pull(
        conn,
        info.id,
        taxonomy=taxonomy,
        document_root=info.document_root,
        out=out,
        method=method,
    )


def test_pull_gives_merged_rows_agreement_and_disagreements(round_trip, taxonomy, tmp_path):
    conn, info, rows = round_trip.conn, round_trip.info, round_trip.rows
    out = tmp_path / "labelled" / "manifest.csv"
    report = _pull(conn, info, taxonomy, out, "majority")
    pulled = {r.sha256: r for r in read_manifest(out).rows}
    sha = [r.sha256 for r in rows]
    assert set(pulled) == set(sha[:5])  # photo 5 has no annotation
    got = {i: (pulled[s].room, pulled[s].condition, pulled[s].signs) for i, s in enumerate(sha[:5])}
    assert got == {
        0: ("kitchen", 3, frozenset({"damp_mould"})),
        1: ("bedroom", 2, frozenset()),
        2: ("not_dwelling", None, frozenset()),
        3: ("living_room", None, frozenset({"premium_appliances"})),  # 4 vs 5: a tie, not a guess
        4: ("bathroom", 3, frozenset({"broken_window"})),
    }
    assert pulled[sha[3]].extra["annotators"] == "2"  # the cancelled annotation does not count
    assert check_manifest(out, taxonomy) == []  # paths, hashes and labels are valid
    room_units = [[lab.room for _, lab, c in votes if not c] for votes in VOTES[:5]]
    assert math.isclose(
        report.agreement["room"].alpha, krippendorff_alpha(room_units, order=taxonomy.room_names)
    )
    assert (report.agreement["room"].photos, report.agreement["room"].unanimous) == (4, 3)
    assert (report.agreement["condition"].photos, report.agreement["condition"].unanimous) == (3, 1)
    heads = sorted((d["head"], d["resolved"]) for d in report.disagreements)
    assert heads == [("condition", "no"), ("condition", "yes"), ("room", "yes"), ("signs", "yes")]
    assert (
        out.with_suffix(".report.json").exists() and out.with_suffix(".disagreements.csv").exists()
    )


def test_pull_counts_corrections_of_the_model_per_head(
    round_trip, taxonomy, tmp_path, label_studio
):
    conn, info = round_trip.conn, round_trip.info
    out = tmp_path / "m.csv"
    report = _pull(conn, info, taxonomy, out, "reliability")
    counts = {h: (c.compared, c.changed) for h, c in report.corrections.items()}
    # Photo 2's three not_dwelling answers are room corrections, with no condition or signs
    # answer to compare.
    assert counts == {"room": (12, 4), "condition": (9, 2), "signs": (9, 2)}
    assert report.corrections["room"].changes["kitchen -> not_dwelling"] == 3
    # The annotator who disagreed most weighs least.
    ids = [str(i) for i in label_studio.annotator_ids]
    assert report.weights[ids[2]] < report.weights[ids[0]] == report.weights[ids[1]]


def test_both_token_kinds_work(label_studio):
    personal = connect(label_studio.url, label_studio.personal_token)
    legacy = connect(label_studio.url, label_studio.legacy_token)
    assert (personal.token_kind, legacy.token_kind) == ("personal_access_token", "legacy")
    assert personal.user_email == legacy.user_email == "admin@shanyraq.test"


@pytest.mark.parametrize("which", ["legacy", "personal"])
def test_wrong_token_gives_a_clear_error(label_studio, which):
    token = label_studio.legacy_token[:-4] + "zzzz"
    if which == "personal":
        head, payload, _ = label_studio.personal_token.split(".")
        token = f"{head}.{payload}.forgedsignature"
    with pytest.raises(LabelStudioAuthError, match="SHANYRAQ_LABEL_STUDIO_TOKEN"):
        connect(label_studio.url, token)


def test_server_down_gives_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(LabelStudioUnreachableError, match="cannot reach Label Studio"):
        connect(url, "any-token", timeout_s=5)


def test_project_of_another_taxonomy_is_detected(round_trip, taxonomy, label_studio):
    conn = round_trip.conn
    data = taxonomy.model_dump()
    data["version"] = taxonomy.version + 1
    data["signs"]["classes"].append(
        {"name": "leaking_roof", "description": "Water stains under the roof.", "points_to": "need"}
    )
    newer = Taxonomy.model_validate(data)
    with pytest.raises(ProjectTaxonomyMismatchError, match="version 1"):
        open_project(conn, title="Round trip", taxonomy=newer)
    # The newer taxonomy's config is accepted by the server for a new project.
    info = init_project(
        conn,
        title="Round trip v2",
        taxonomy=newer,
        photos_dir=label_studio.photos_dir,
        document_root=label_studio.document_root,
    )
    assert info.created
    project = conn.sdk.projects.get(info.id)
    assert 'value="leaking_roof"' in project.label_config


def test_an_annotator_who_submits_twice_counts_once_with_the_latest(
    label_studio, taxonomy, tmp_path
):
    """Label Studio takes a second annotation of one task from one user: pull counts that
    user once, with the later answer."""
    conn = connect(label_studio.url, label_studio.personal_token)
    rows = make_manifest(label_studio.photos_dir, tmp_path / "in" / "m.csv", 1, prefix="twice")
    info = init_on_server(conn, "Twice", taxonomy, label_studio)
    _push_without_scores(conn, info.id, rows, tmp_path / "in", label_studio, taxonomy)
    (task,) = list(conn.sdk.tasks.list(project=info.id, page_size=10))
    first, second = label_studio.annotator_ids[:2]
    for who, room in ((first, "kitchen"), (second, "bedroom"), (first, "bedroom")):
        conn.sdk.annotations.create(
            task.id,
            result=result_from_labels(taxonomy, L(room, 3, frozenset())),
            completed_by=who,
        )
    out = tmp_path / "out" / "m.csv"
    report = _pull(conn, info, taxonomy, out, "majority")
    (row,) = read_manifest(out).rows
    assert (row.room, row.extra["annotators"]) == ("bedroom", "2")
    assert (report.agreement["room"].photos, report.agreement["room"].unanimous) == (1, 1)
    assert report.disagreements == []
