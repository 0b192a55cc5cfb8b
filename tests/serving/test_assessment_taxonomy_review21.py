"""An assessment goes stale when a part of configs/taxonomy.yaml that decides what it says changes.

Before, an assessment recorded a digest of configs/welfare.yaml only: flipping a sign's
`points_to` (need or welfare evidence, pooled in welfare.features) changed what a new
assessment would say while the stored one read as current, and a decision could be recorded
on it. Comments, layout and descriptions change nothing an assessment says and leave it
current; one made before the taxonomy digest was recorded is not judged on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serving.assessments import STALE_REASONS
from serving.db.models import Assessment
from serving.db.session import session_scope
from serving.outcome_basis import TAXONOMY_KEY, taxonomy_config_digest
from tests.serving.helpers import Service, small_fusion_model

OVERRIDE = {"kind": "override", "reason_code": "income_evidence",
            "reason": "employer letter shows wage arrears"}  # fmt: skip


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the digest is the same on PostgreSQL."""
    return f"sqlite:///{tmp_path / 'taxonomy.db'}"


@pytest.fixture(scope="module")
def tabular_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("tabular"))


def _stale_reason(service: Service, assessment_id: int) -> str | None:
    """Why the assessment is out of date, read without recomputing it."""
    read = service.client.get(
        f"/assessments/{assessment_id}", headers=service.headers("commission")
    )
    assert read.status_code == 200, read.text
    return read.json()["stale_reason"]  # type: ignore[no-any-return]


def _flip_first_need_sign(data: dict[str, Any]) -> None:
    sign = next(s for s in data["signs"]["classes"] if s["points_to"] == "need")
    sign["points_to"] = "welfare"


def _reword_descriptions(data: dict[str, Any]) -> None:
    for head in ("room", "signs"):
        data[head]["description"] = f"Reworded: {data[head]['description']}"
        for c in data[head]["classes"]:
            c["description"] = f"Reworded: {c['description']}"


def _add_comment(configs: Path) -> None:
    from shanyraq.taxonomy import get_taxonomy

    path = configs / "taxonomy.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(f"# a note that decides nothing\n{text}", encoding="utf-8")
    get_taxonomy.cache_clear()


def test_a_flipped_points_to_makes_the_assessment_stale_but_comments_and_words_do_not(
    make_service: Callable[..., Service], tabular_dir: Path, edit_config: Any, tmp_path: Path
) -> None:
    service = make_service(fusion_dir=tabular_dir)
    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    before = first["model_versions"][TAXONOMY_KEY]
    assert before == taxonomy_config_digest()

    # Rewritten by yaml.safe_dump (another layout), with a comment and reworded descriptions.
    edit_config("taxonomy.yaml", _reword_descriptions)
    _add_comment(tmp_path / "configs")
    assert taxonomy_config_digest() == before
    assert _stale_reason(service, first["assessment_id"]) is None

    edit_config("taxonomy.yaml", _flip_first_need_sign)

    assert _stale_reason(service, first["assessment_id"]) == "taxonomy_config"
    body = {**OVERRIDE, "level": 1 if first["level"] != 1 else 2}
    refused = service.client.post(
        f"/assessments/{first['assessment_id']}/decisions", json=body,
        headers=service.headers("commission"),
    )  # fmt: skip
    assert refused.status_code == 409 and refused.json()["refusal"] == "out_of_date"
    assert STALE_REASONS["taxonomy_config"] in refused.json()["message"]
    latest = service.client.get(
        "/families/F1/assessments/latest", headers=service.headers("commission")
    ).json()
    assert latest["version"] == 2 and latest["stale_reason"] is None
    assert latest["model_versions"][TAXONOMY_KEY] == taxonomy_config_digest() != before


def test_an_assessment_from_before_the_taxonomy_digest_is_not_judged_on_it(
    make_service: Callable[..., Service], tabular_dir: Path, edit_config: Any
) -> None:
    service = make_service(fusion_dir=tabular_dir)
    service.create_family("F1")
    first = service.assess("F1", who="inspector")
    with session_scope(service.services.sessions) as session:
        row = session.get_one(Assessment, first["assessment_id"])
        row.model_versions = {k: v for k, v in row.model_versions.items() if k != TAXONOMY_KEY}

    edit_config("taxonomy.yaml", _flip_first_need_sign)

    # Else every assessment made before the upgrade would go stale at once.
    assert _stale_reason(service, first["assessment_id"]) is None
