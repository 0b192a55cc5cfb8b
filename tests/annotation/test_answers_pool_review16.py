"""Review 16: Label Studio answers in shapes the UI does not make (two items for one head, two
choices of a one-choice head, signs over two items, skips, Cyrillic labels), and the
experiment's pool (scores the model gave no numbers for, a cache from another synth config,
one seed giving one pool).

Tasks are built as Label Studio's task list gives them (`LseTask`, annotations as dicts); the
pool renders a few tiny synthetic photos and scores them with a stand-in for the engine.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from label_studio_sdk.types.lse_task import LseTask

from annotation import pool as pool_module
from annotation.export import build_report, parse_task, write_report
from annotation.label_config import PhotoLabels as L
from annotation.label_config import result_from_labels
from annotation.pool import PhotoPool, build_pool
from shanyraq.errors import ModelMismatchError
from tests.annotation.helpers import score_for, unread_score

KITCHEN = L("kitchen", 3, frozenset())
BEDROOM = L("bedroom", 2, frozenset())


def _annotation(annotation_id: int, who: int | None, result: list, **more: Any) -> dict:
    return {
        "id": annotation_id,
        "completed_by": who,
        "result": result,
        "was_cancelled": False,
        "created_at": "2025-03-01T09:00:00Z",
        "updated_at": f"2025-03-01T09:{annotation_id:02d}:00Z",
        **more,
    }


def _task(task_id: int, annotations: list[dict]) -> LseTask:
    data = {"photo": f"bulk/{task_id}.jpg", "sha256": f"{task_id:02x}" * 32, "family_id": "f1"}
    return LseTask(id=task_id, data={**data, "split": "train"}, annotations=annotations)


def _choices(head: str, *choices: str) -> dict:
    return {
        "from_name": head,
        "to_name": "image",
        "type": "choices",
        "value": {"choices": [*choices]},
    }


def _report(taxonomy, tmp_path, tasks: list[LseTask]):
    parsed = [parse_task(t, taxonomy) for t in tasks]
    return build_report(
        parsed, taxonomy, method="majority", document_root=tmp_path, out_dir=tmp_path
    )


# --- answers: several answers to a one-answer head ---


def test_two_room_items_in_one_answer_are_named_not_guessed(taxonomy, tmp_path):
    """An annotation imported or made through the API with two room items: taking the first
    or the last would write a room the annotator may not have meant."""
    two_items = [*result_from_labels(taxonomy, KITCHEN), _choices("room", "bedroom")]
    parsed = parse_task(_task(1, [_annotation(1, 7, two_items)]), taxonomy)
    assert parsed.votes == []
    assert parsed.off_taxonomy == ("room=kitchen|bedroom",)
    clean = _task(2, [_annotation(2, 7, result_from_labels(taxonomy, KITCHEN))])
    report = _report(taxonomy, tmp_path, [_task(1, [_annotation(1, 7, two_items)]), clean])
    assert [r.extra["label_studio_task"] for r in report.rows] == ["2"]
    assert report.to_dict()["tasks_off_taxonomy"] == {"1": ["room=kitchen|bedroom"]}


@pytest.mark.parametrize(
    ("rooms", "named"),
    [
        (("kitchen", "bedroom"), "room=kitchen|bedroom"),
        (("not_dwelling", "kitchen"), "room=not_dwelling|kitchen"),
    ],
)
def test_two_rooms_in_one_item_are_named_not_guessed(taxonomy, rooms, named):
    """A config edited to choice="multiple" lets an annotator tick two rooms."""
    result = [_choices("room", *rooms), _choices("condition", "3 basic")]
    parsed = parse_task(_task(1, [_annotation(1, 7, result)]), taxonomy)
    assert (parsed.votes, parsed.off_taxonomy) == ([], (named,))


def test_a_room_ticked_twice_is_one_room(taxonomy):
    result = [
        _choices("room", "kitchen"),
        _choices("room", "kitchen"),
        _choices("condition", "3 basic"),
    ]
    parsed = parse_task(_task(1, [_annotation(1, 7, result)]), taxonomy)
    assert (parsed.votes, parsed.off_taxonomy) == ([("7", KITCHEN)], ())


def test_two_grades_for_a_home_are_named_and_the_grade_not_guessed(taxonomy):
    result = [_choices("room", "kitchen"), _choices("condition", "2 poor", "4 good")]
    parsed = parse_task(_task(1, [_annotation(1, 7, result)]), taxonomy)
    assert parsed.off_taxonomy == ("condition=2 poor|4 good",)
    assert parsed.votes == [("7", L("kitchen", None, frozenset()))]


def test_two_grades_for_a_not_dwelling_photo_are_dropped_not_named(taxonomy):
    """A not_dwelling photo has no condition: whatever was ticked is not read, so not named."""
    result = [_choices("room", "not_dwelling"), _choices("condition", "2 poor", "4 good")]
    parsed = parse_task(_task(1, [_annotation(1, 7, result)]), taxonomy)
    assert parsed.off_taxonomy == ()
    assert parsed.votes == [("7", L("not_dwelling", None, frozenset()))]


def test_signs_over_two_items_are_all_kept(taxonomy):
    result = [
        _choices("room", "kitchen"),
        _choices("condition", "2 poor"),
        _choices("signs", "damp_mould"),
        _choices("signs", "broken_window"),
    ]
    parsed = parse_task(_task(1, [_annotation(1, 7, result)]), taxonomy)
    assert parsed.votes == [("7", L("kitchen", 2, frozenset({"damp_mould", "broken_window"})))]
    assert parsed.off_taxonomy == ()


# --- answers: what the code already does right ---


def test_a_skipped_annotation_neither_votes_nor_hides_an_earlier_answer(taxonomy):
    kitchen = result_from_labels(taxonomy, KITCHEN)
    bedroom = result_from_labels(taxonomy, BEDROOM)
    task = _task(
        1,
        [
            _annotation(1, 7, kitchen),
            _annotation(2, 7, bedroom, was_cancelled=True),  # later, but skipped
            _annotation(3, 8, bedroom, was_cancelled=True),
        ],
    )
    assert parse_task(task, taxonomy).votes == [("7", KITCHEN)]


def test_a_condition_given_for_a_not_dwelling_photo_is_not_trained_on(taxonomy, tmp_path):
    result = [_choices("room", "not_dwelling"), _choices("condition", "1 emergency")]
    result.append(_choices("signs", "structural_damage"))
    report = _report(taxonomy, tmp_path, [_task(1, [_annotation(1, 7, result)])])
    (row,) = report.rows
    assert (row.room, row.condition, row.signs) == ("not_dwelling", None, frozenset())


def test_a_cyrillic_label_is_named_verbatim_and_left_out(taxonomy, tmp_path):
    result = [_choices("room", "кухня"), _choices("condition", "3 basic")]
    report = _report(taxonomy, tmp_path, [_task(1, [_annotation(1, 7, result)])])
    assert report.rows == []
    _, report_path, _ = write_report(report, tmp_path / "labels.csv")
    saved = json.loads(report_path.read_text(encoding="utf-8"))
    assert saved["tasks_off_taxonomy"] == {"1": ["room=кухня"]}


def test_a_control_the_config_lacks_is_ignored(taxonomy):
    result = [*result_from_labels(taxonomy, KITCHEN), _choices("comment_room", "bedroom")]
    parsed = parse_task(_task(1, [_annotation(1, 7, result)]), taxonomy)
    assert (parsed.votes, parsed.off_taxonomy) == ([("7", KITCHEN)], ())


# --- the pool ---


def _fake_scores(calls: list[int], *, unread: int | None = None):
    """A stand-in for the engine: scores that depend on the pixels (so two renders of one seed
    agree only if their pixels do); photo `unread` gets NaN, as the engine gives it."""

    def score(images, model_dir, taxonomy, engine=None):
        calls.append(len(images))
        return [
            unread_score(str(i), taxonomy)
            if i == unread
            else score_for(str(i), KITCHEN, taxonomy, seed=int(image.sum()) % 2**32)
            for i, image in enumerate(images)
        ]

    return score


@pytest.fixture
def stand_in_model(monkeypatch):
    monkeypatch.setattr(
        pool_module, "_load_engine", lambda model_dir, taxonomy: SimpleNamespace(model_version="m1")
    )
    monkeypatch.setattr(pool_module, "_scoring_key", lambda engine, model_dir: "cpu")
    calls: list[int] = []
    monkeypatch.setattr(pool_module, "_score_images", _fake_scores(calls))
    return calls


def _build(work_dir, taxonomy, **more: Any) -> PhotoPool:
    return build_pool(
        4, seed=5, model_dir=work_dir / "model", work_dir=work_dir, taxonomy=taxonomy, size=48,
        duplicate_share=0.5, **more,
    )  # fmt: skip


def _same(a: PhotoPool, b: PhotoPool) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("features", "room", "condition", "family", "phash", "dhash", "duplicate_of")
    )


def test_one_seed_gives_one_pool(stand_in_model, tmp_path, taxonomy):
    first, second = _build(tmp_path / "a", taxonomy), _build(tmp_path / "b", taxonomy)
    assert len(first) == 6 and _same(first, second)
    assert stand_in_model == [6, 6]
    assert _same(_build(tmp_path / "a", taxonomy), first) and stand_in_model == [6, 6]  # cached


def test_a_photo_the_model_gave_no_numbers_for_is_refused_and_not_cached(
    monkeypatch, stand_in_model, tmp_path, taxonomy
):
    monkeypatch.setattr(pool_module, "_score_images", _fake_scores([], unread=2))
    with pytest.raises(ModelMismatchError, match=r"model m1 gave no numbers \(NaN\) for 1 of 6"):
        _build(tmp_path, taxonomy)
    assert list(tmp_path.glob("pool-*.npz")) == []


def test_a_cached_pool_with_nan_is_refused_naming_the_file(stand_in_model, tmp_path, taxonomy):
    pool = _build(tmp_path, taxonomy)
    (cache,) = tmp_path.glob("pool-*.npz")
    features = pool.features.copy()
    features[1, 0] = np.nan
    PhotoPool(**{**pool.__dict__, "features": features}).save(cache)
    with pytest.raises(ModelMismatchError, match="delete it to score the pool again"):
        _build(tmp_path, taxonomy)


def test_a_pool_cached_before_the_synth_config_changed_is_not_reused(
    monkeypatch, stand_in_model, tmp_path, taxonomy
):
    import training.synth.config as synth_config

    before = _build(tmp_path, taxonomy)
    config = synth_config.get_synth_config()
    photos = config.photos.model_copy(update={"jpeg_quality": (40, 41)})
    monkeypatch.setattr(
        synth_config, "get_synth_config", lambda: config.model_copy(update={"photos": photos})
    )
    after = _build(tmp_path, taxonomy)
    assert stand_in_model == [6, 6]  # rendered and scored again
    assert not np.array_equal(before.features, after.features)
