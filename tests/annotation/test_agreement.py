"""Krippendorff's alpha against published values; merging; corrections."""

from __future__ import annotations

import math

import pytest

from annotation.agreement import agreement_by_head, krippendorff_alpha, merge_all, merge_votes
from annotation.corrections import count_corrections
from annotation.label_config import PhotoLabels as L

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units.
KRIPPENDORFF_2011 = [
    [1, 1, N, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
    [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [N, 5, 5, 5], [N, N, 1, 1], [N, 3, N, N],
]  # fmt: skip


@pytest.mark.parametrize(
    ("metric", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_alpha_matches_the_published_example(metric, expected):
    alpha = krippendorff_alpha(KRIPPENDORFF_2011, metric=metric, order=[1, 2, 3, 4, 5])
    assert round(alpha, 3) == expected


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_pairs():
    assert krippendorff_alpha([["a", "a"], ["b", "b", "b"]]) == 1.0
    assert math.isnan(krippendorff_alpha([["a"], ["b"]]))
    assert math.isnan(krippendorff_alpha([["a", "a"], ["a", "a"]]))


def test_majority_merge_and_ties(taxonomy):
    votes = [
        ("a", L("bedroom", 2, frozenset({"overcrowding"}))),
        ("b", L("bedroom", 3, frozenset({"overcrowding"}))),
        ("c", L("living_room", 3, frozenset())),
    ]
    merged = merge_votes(votes, taxonomy)
    assert merged.labels == L("bedroom", 3, frozenset({"overcrowding"}))
    assert set(merged.disagreed) == {"room", "condition", "signs"} and merged.unresolved == ()
    tie = merge_votes(
        [("a", L("kitchen", 2, frozenset())), ("b", L("bathroom", 2, frozenset()))], taxonomy
    )
    # Both saw a home in the same condition: only the room is unknown (helper-104's finding).
    assert tie.labels == L(None, 2, frozenset()) and tie.unresolved == ("room",)


def test_condition_and_signs_count_only_annotators_who_saw_a_home(taxonomy):
    votes = [
        ("a", L("not_dwelling", None, frozenset())),
        ("b", L("kitchen", 4, frozenset({"premium_finishes"}))),
        ("c", L("kitchen", 4, frozenset({"premium_finishes"}))),
    ]
    assert merge_votes(votes, taxonomy).labels == L("kitchen", 4, frozenset({"premium_finishes"}))


def test_reliability_weights_let_the_reliable_annotator_break_a_tie(taxonomy):
    good = L("kitchen", 3, frozenset())
    photos = [
        [("a", good), ("b", good), ("c", L("bathroom", 1, frozenset({"damp_mould"})))]
        for _ in range(6)
    ]
    photos.append([("a", L("bedroom", 3, frozenset())), ("c", L("living_room", 3, frozenset()))])
    outcome = merge_all(photos, taxonomy, method="reliability")
    assert outcome.weights["a"] > outcome.weights["c"]
    assert outcome.merged[-1].labels.room == "bedroom"
    assert merge_all(photos, taxonomy, method="majority").merged[-1].labels.room is None


def test_agreement_by_head_counts_photos_and_unanimity(taxonomy):
    photos = [
        [("a", L("kitchen", 3, frozenset())), ("b", L("kitchen", 3, frozenset()))],
        [("a", L("bedroom", 2, frozenset({"damp_mould"}))), ("b", L("bedroom", 4, frozenset()))],
        [("a", L("bathroom", 3, frozenset()))],
    ]
    result = agreement_by_head(photos, taxonomy)
    assert (result["room"].photos, result["room"].unanimous, result["room"].alpha) == (2, 2, 1.0)
    assert (result["condition"].photos, result["condition"].unanimous) == (2, 1)
    assert result["condition"].alpha < 1.0


def test_corrections_count_changes_per_head(taxonomy):
    model = L("kitchen", 3, frozenset())
    pairs = [
        (model, L("kitchen", 3, frozenset())),
        (model, L("kitchen", 2, frozenset({"damp_mould"}))),
        (model, L("not_dwelling", None, frozenset())),
    ]
    result = count_corrections(pairs, taxonomy=taxonomy)
    assert (result["room"].compared, result["room"].changed) == (3, 1)
    assert (result["condition"].compared, result["condition"].changed) == (2, 1)
    assert result["signs"].changes == {"none -> damp_mould": 1}
    assert result["room"].rate == pytest.approx(1 / 3)


NOT_DWELLING = L("not_dwelling", None, frozenset())  # as labels_from_result parses it


def test_a_not_dwelling_answer_is_no_signs_answer_in_agreement(taxonomy):
    """Signs are compared only between annotators who saw a home, as merging counts them:
    not_dwelling against a kitchen with damp is a room disagreement, not a signs one."""
    damp = frozenset({"damp_mould"})
    photos = [
        [("a", L("kitchen", 2, damp)), ("b", L("kitchen", 2, damp))],
        [("a", L("bedroom", 3, frozenset())), ("b", L("bedroom", 3, frozenset()))],
        [("a", NOT_DWELLING), ("b", L("kitchen", 2, damp))],
        [("a", NOT_DWELLING), ("b", L("bathroom", 3, frozenset()))],
    ]
    result = agreement_by_head(photos, taxonomy)
    assert (result["signs"].photos, result["signs"].unanimous) == (2, 2)
    assert result["signs"].alpha == 1.0
    assert (result["condition"].photos, result["condition"].unanimous) == (2, 2)
    assert result["room"].photos == 4 and result["room"].unanimous == 2


def test_corrections_compare_signs_only_where_model_and_annotator_saw_a_home(taxonomy):
    damp = frozenset({"damp_mould"})
    pairs = [
        (NOT_DWELLING, L("kitchen", 3, frozenset())),  # model: no home, so no signs to correct
        (L("kitchen", 3, damp), NOT_DWELLING),  # annotator: no home, so no signs answer
        (L("kitchen", 3, frozenset()), L("kitchen", 3, damp)),
    ]
    result = count_corrections(pairs, taxonomy=taxonomy)
    assert (result["room"].compared, result["room"].changed) == (3, 2)
    assert (result["condition"].compared, result["condition"].changed) == (1, 0)
    assert (result["signs"].compared, result["signs"].changed) == (1, 1)
    assert result["signs"].changes == {"none -> damp_mould": 1}


def _right(grade: int) -> L:
    return L("kitchen", grade, frozenset())


def _wrong(grade: int) -> L:
    return L("bedroom", grade % 5 + 1, frozenset({"damp_mould"}))


def test_a_prolific_sloppy_annotator_does_not_outvote_reliable_ones(taxonomy):
    """A labels 40 photos, each shared with B or C, and is wrong on 16; B and C agree on 5."""
    photos = []
    for partner in ("b", "c"):
        for i in range(20):
            grade = i % 5 + 1
            photos.append(
                [("a", _wrong(grade) if i < 8 else _right(grade)), (partner, _right(grade))]
            )
    photos += [[("b", _right(3)), ("c", _right(3))] for _ in range(5)]
    outcome = merge_all(photos, taxonomy, method="reliability")
    assert outcome.weights["b"] > outcome.weights["a"] < outcome.weights["c"]
    disputed = [m for i, m in enumerate(outcome.merged[:40]) if i % 20 < 8]
    assert len(disputed) == 16 and all("room" in m.disagreed for m in disputed)
    assert not any(m.labels.room == "bedroom" for m in disputed)


def test_between_two_annotators_volume_never_settles_a_disagreement(taxonomy):
    """a labels many more photos (and every head) than b; their weights stay equal."""
    photos = [[("a", _right(i % 5 + 1))] for i in range(30)]  # a alone
    for i in range(12):
        a_label = _wrong(3) if i < 3 else _right(3)
        b_label = L("kitchen", None if i % 2 else 3, frozenset())  # b often skips condition
        photos.append([("a", a_label), ("b", b_label)])
    outcome = merge_all(photos, taxonomy, method="reliability")
    assert outcome.weights["a"] == pytest.approx(outcome.weights["b"])
    for merged in outcome.merged[30:33]:
        assert merged.labels.room is None and "room" in merged.unresolved
    assert [m.labels for m in outcome.merged[30:33]] == [
        m.labels for m in merge_all(photos, taxonomy, method="majority").merged[30:33]
    ]


def test_an_annotator_who_shares_few_photos_keeps_about_the_prior_weight(taxonomy):
    from annotation.agreement import PRIOR_AGREEMENT, reliability_weights

    photos = [[("a", _right(3)), ("b", _right(3))] for _ in range(40)]
    photos += [[("a", _right(2)), ("newcomer", _right(2))]]
    weights = reliability_weights(photos, taxonomy)
    prior = math.log(PRIOR_AGREEMENT / (1 - PRIOR_AGREEMENT))
    assert prior < weights["newcomer"] < prior + 0.5 < weights["a"]


def _annotation(taxonomy, annotation_id: int, who: int, labels: L, updated_at: str) -> dict:
    from annotation.label_config import result_from_labels

    return {
        "id": annotation_id,
        "completed_by": who,
        "result": result_from_labels(taxonomy, labels),
        "was_cancelled": False,
        "created_at": "2025-01-01T09:00:00Z",
        "updated_at": updated_at,
    }


def test_an_annotator_who_submitted_twice_votes_once_with_the_latest_answer(taxonomy):
    """Label Studio lets one user submit several annotations of a task (a second tab, the
    API): they are one annotator, whose latest answer counts, not two votes that agree."""
    from label_studio_sdk.types.lse_task import LseTask

    from annotation.export import parse_task

    kitchen, bedroom = L("kitchen", 3, frozenset()), L("bedroom", 3, frozenset())
    twice = LseTask(
        id=1,
        data={},
        annotations=[
            _annotation(taxonomy, 2, 7, kitchen, "2025-01-01T10:00:00Z"),
            _annotation(taxonomy, 1, 7, kitchen, "2025-01-01T09:00:00Z"),
            _annotation(taxonomy, 3, 8, bedroom, "2025-01-01T09:30:00Z"),
        ],
    )
    votes = parse_task(twice, taxonomy).votes
    assert votes == [("7", kitchen), ("8", bedroom)]
    merged = merge_votes(votes, taxonomy)
    assert merged.labels.room is None and merged.unresolved == ("room",)  # 1 against 1
    changed_mind = LseTask(
        id=2,
        data={},
        annotations=[
            _annotation(taxonomy, 4, 7, bedroom, "2025-01-02T10:00:00Z"),  # edited later
            _annotation(taxonomy, 5, 7, kitchen, "2025-01-01T11:00:00Z"),
            _annotation(taxonomy, 6, 8, bedroom, "2025-01-01T09:30:00Z"),
        ],
    )
    votes = parse_task(changed_mind, taxonomy).votes
    assert votes == [("7", bedroom), ("8", bedroom)]
    assert agreement_by_head([votes], taxonomy)["room"].unanimous == 1


def test_pull_leaves_out_tasks_that_push_did_not_make(taxonomy, tmp_path):
    """A task imported another way (a storage sync in Label Studio, an upload) carries no
    sha256 or photo path: it is left out of the manifest and counted, not written as a row
    with no hash whose path is the document root."""
    from annotation.export import AnnotatedTask, build_report, write_report
    from shanyraq.manifest import read_manifest

    sha = "ab" * 32
    pushed = AnnotatedTask(
        1,
        {"photo": "bulk/a.jpg", "sha256": sha, "family_id": "f1", "split": "train"},
        [("7", L("kitchen", 3, frozenset()))],
    )
    synced = AnnotatedTask(
        2, {"image": "/data/local-files/?d=bulk/b.jpg"}, [("7", L("bedroom", 2, frozenset()))]
    )
    report = build_report(
        [pushed, synced], taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
    )
    assert [r.sha256 for r in report.rows] == [sha]
    assert report.to_dict()["tasks_not_from_push"] == [2]
    manifest, _, _ = write_report(report, tmp_path / "labels.csv")
    assert [r.path for r in read_manifest(manifest).rows] == ["bulk/a.jpg"]


def test_disagreements_list_no_signs_answer_for_a_not_dwelling_vote(taxonomy, tmp_path):
    """The review file shows the answers each disputed head was voted on: a not_dwelling
    annotator gave no signs answer, so it is not shown as "none" (no signs seen)."""
    from annotation.export import AnnotatedTask, build_report

    task = AnnotatedTask(
        1,
        {"photo": "bulk/a.jpg", "sha256": "ab" * 32},
        [
            ("a", NOT_DWELLING),
            ("b", L("kitchen", 2, frozenset({"damp_mould"}))),
            ("c", L("kitchen", 2, frozenset())),
        ],
    )
    report = build_report(
        [task], taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
    )
    answers = {d["head"]: d["answers"] for d in report.disagreements}
    assert answers == {
        "room": "a=not_dwelling | b=kitchen | c=kitchen",
        "signs": "b=damp_mould | c=none",
    }
