"""An assessment goes stale when a part of configs/welfare.yaml that decides what it says changes.

Before, only levels, thresholds, rules and recommendation were digested: an edited criterion
description (the words of a reason), the criteria's order (the order missing criteria are
listed in) or fusion.expected_rooms (photo coverage, where the fusion model records no rooms of
its own) changed what a recomputed assessment would say while the stored one read as current,
and a decision could be recorded on it. Parts that change nothing an assessment says (a
criterion's unit or source, targets, the training recipe) leave it current.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving.assessments import STALE_REASONS, WELFARE_CONFIG_KEY
from tests.serving.helpers import Service, small_fusion_model

OVERRIDE = {"kind": "override", "level": 2, "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the digest is the same on PostgreSQL."""
    return f"sqlite:///{tmp_path / 'digest.db'}"


@pytest.fixture(scope="module")
def tabular_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("tabular"))


@pytest.fixture(scope="module")
def fused_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fused model reading photo coverage, as saved (it records the rooms it was trained
    with) and as saved before recipes were recorded (no rooms: configs/welfare.yaml's count)."""
    from welfare.fusion import COVERAGE_FEATURE

    root = tmp_path_factory.mktemp("fused")
    records = small_fusion_model(root / "records", "lgbm_fused")
    no_rooms = root / "no_rooms"
    shutil.copytree(records, no_rooms)
    meta = json.loads((no_rooms / "fusion.json").read_text(encoding="utf-8"))
    assert COVERAGE_FEATURE in meta["features"] and meta["recipe"]["expected_rooms"]
    meta["recipe"] = None
    (no_rooms / "fusion.json").write_text(json.dumps(meta), encoding="utf-8")
    return {"records_rooms": records, "no_rooms": no_rooms}


def _stale_reason(service: Service, assessment_id: int) -> str | None:
    """Why the assessment is out of date, read without recomputing it."""
    response = service.client.get(
        f"/assessments/{assessment_id}", headers=service.headers("commission")
    )
    assert response.status_code == 200, response.text
    return response.json()["stale_reason"]  # type: ignore[no-any-return]


def _latest(service: Service, family: str = "F1") -> dict[str, Any]:
    response = service.client.get(
        f"/families/{family}/assessments/latest", headers=service.headers("commission")
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _decide(service: Service, assessment: dict[str, Any]) -> Any:
    """An override to a level other than the assessment's."""
    body = {**OVERRIDE, "level": 1 if assessment["level"] != 1 else 2}
    return service.client.post(
        f"/assessments/{assessment['assessment_id']}/decisions", json=body,
        headers=service.headers("commission"),
    )  # fmt: skip


def _file_kitchen_photos(service: Service, family_id: str, n: int) -> None:
    """`n` usable photos of the kitchen, filed with their scores."""
    from sqlalchemy import select

    from serving.db.models import Photo, User
    from serving.db.session import session_scope
    from shanyraq.taxonomy import get_taxonomy
    from vision.score import PhotoScore

    taxonomy = get_taxonomy()
    rooms = {name: 0.9 if name == "kitchen" else 0.01 for name in taxonomy.room_names}
    grades = {g: (0.8 if g == 3 else 0.05) for g in taxonomy.condition_values}
    with session_scope(service.services.sessions) as session:
        inspector = session.execute(select(User.id).where(User.username == "inspector"))
        uploaded_by = inspector.scalar_one()
        for i in range(n):
            score = PhotoScore(
                photo_sha256=f"{i:064x}", model_version="vision-1", room=rooms, condition=grades,
                signs=dict.fromkeys(taxonomy.sign_names, 0.1),
                embedding=np.zeros(0, dtype=np.float32), abstain=False, abstain_reasons=(),
            ).to_dict()  # fmt: skip
            session.add(
                Photo(
                    family_id=family_id, sha256=f"{i:064x}", format="jpeg", width=640,
                    height=480, size_bytes=1000, uploaded_by=uploaded_by, score=score,
                    quality={"status": "pass", "reasons": []}, model_version="vision-1",
                )
            )  # fmt: skip


def _reword_every_criterion(data: dict[str, Any]) -> None:
    for c in data["criteria"]:
        c["description"] = f"Reworded: {c['description']}"


def test_reworded_criteria_make_the_assessment_stale_and_its_reasons_follow(
    make_service: Callable[..., Service], tabular_dir: Path, edit_config: Any
) -> None:
    service = make_service(fusion_dir=tabular_dir)
    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    said = first["result"]["reasons"]
    assert first["result"]["reason_details"] and not any("Reworded" in r for r in said)

    edit_config("welfare.yaml", _reword_every_criterion)

    assert _stale_reason(service, first["assessment_id"]) == "welfare_config"
    refused = _decide(service, first)
    assert refused.status_code == 409 and refused.json()["refusal"] == "out_of_date"
    assert STALE_REASONS["welfare_config"] in refused.json()["message"]
    assert "criteria" in STALE_REASONS["welfare_config"]
    latest = _latest(service)
    assert latest["version"] == 2 and latest["stale_reason"] is None
    assert any("Reworded" in r for r in latest["result"]["reasons"])  # the stale one did not
    assert _decide(service, latest).status_code == 201


def test_reordered_criteria_make_the_assessment_stale_and_its_missing_list_follows(
    service: Service, edit_config: Any
) -> None:
    service.create_family("F1")  # most criteria missing: listed in configs/welfare.yaml's order
    first = service.assess("F1", who="inspector")
    assert len(first["result"]["missing_criteria"]) > 2

    edit_config("welfare.yaml", lambda data: data["criteria"].reverse())

    assert _stale_reason(service, first["assessment_id"]) == "welfare_config"
    latest = _latest(service)
    assert latest["version"] == 2
    assert latest["result"]["missing_criteria"] == first["result"]["missing_criteria"][::-1]


def _move_unit_and_source(data: dict[str, Any]) -> None:
    for c in data["criteria"]:
        c["unit"] = f"{c['unit']} (as recorded)"
        c["source"] = f"{c['source']} Checked 2026."
        if c["kind"] != "category" and c.get("max") is not None:
            c["max"] = c["max"] * 2  # a wider range: every record valid before stays valid


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_move_unit_and_source, id="criteria-unit-source-range"),
        pytest.param(lambda d: d["targets"].update(level_accuracy=0.95), id="targets"),
        pytest.param(lambda d: d["fusion"].update(n_families=30000), id="training-recipe"),
        pytest.param(lambda d: d["fusion"]["expected_rooms"].pop(), id="rooms-unused"),
    ],
)
def test_parts_that_change_nothing_said_keep_the_assessment_current(
    make_service: Callable[..., Service], tabular_dir: Path, edit_config: Any, change: Any
) -> None:
    """The served tabular model reads no photo coverage: its rooms decide nothing either."""
    service = make_service(fusion_dir=tabular_dir)
    service.create_family("F1")
    _file_kitchen_photos(service, "F1", 2)
    first = service.assess("F1", who="inspector")

    edit_config("welfare.yaml", change)

    assert _stale_reason(service, first["assessment_id"]) is None
    assert _latest(service)["assessment_id"] == first["assessment_id"]


@pytest.mark.parametrize(
    ("model", "change", "stale"),
    [
        pytest.param("no_rooms", lambda rooms: rooms[:1], "welfare_config", id="config-rooms"),
        pytest.param("no_rooms", lambda rooms: rooms[::-1], None, id="same-rooms-reordered"),
        pytest.param("records_rooms", lambda rooms: rooms[:1], None, id="model-rooms"),
    ],
)
def test_expected_rooms_count_where_they_measured_photo_coverage(
    make_service: Callable[..., Service],
    fused_dirs: dict[str, Path],
    edit_config: Any,
    model: str,
    change: Callable[[list[str]], list[str]],
    stale: str | None,
) -> None:
    """A fused model that records no rooms of its own measures coverage over the configured
    ones (welfare.assess.coverage_rooms): editing them changes what the model reads. Coverage is
    a share of a set of rooms: their order changes nothing. A model that records its rooms
    reads those, whatever the configuration says."""
    service = make_service(fusion_dir=fused_dirs[model])
    service.create_family("F1")
    _file_kitchen_photos(service, "F1", 2)
    first = service.assess("F1", who="inspector")
    assert WELFARE_CONFIG_KEY in first["model_versions"]

    edit_config("welfare.yaml", lambda d: d["fusion"].update(
        expected_rooms=change(d["fusion"]["expected_rooms"])
    ))  # fmt: skip

    assert _stale_reason(service, first["assessment_id"]) == stale
    latest = _latest(service)
    assert (latest["version"] == 2) is (stale is not None)
    assert latest["stale_reason"] is None
    if stale is not None:
        assert "rooms" in STALE_REASONS["welfare_config"]
        assert _latest(service)["assessment_id"] == latest["assessment_id"]  # once
