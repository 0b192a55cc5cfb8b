"""Helpers of the report tests: photo scores made to order and filed for a family, the drift
report and the oversight page's drift table, and a trained model (a fixture)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.serving.helpers import PASSWORD

SURE_GRADE_3 = {1: 0.05, 2: 0.05, 3: 0.8, 4: 0.05, 5: 0.05}


def photo_score(
    model: str,
    room: str,
    *,
    condition: dict[int, float] | None = None,
    abstain_reasons: tuple[str, ...] = (),
    nan: bool = False,
) -> dict[str, Any]:
    """A stored score (PhotoScore.to_dict) by `model` whose top room is `room`."""
    from shanyraq.taxonomy import get_taxonomy
    from vision.score import PhotoScore

    taxonomy = get_taxonomy()
    rooms = {name: 0.9 if name == room else 0.1 / 5 for name in taxonomy.room_names}
    grades = dict(condition or SURE_GRADE_3)
    if nan:
        rooms = dict.fromkeys(rooms, float("nan"))
        grades = dict.fromkeys(grades, float("nan"))
    return PhotoScore(
        photo_sha256="0" * 64, model_version=model, room=rooms, condition=grades,
        signs=dict.fromkeys(taxonomy.sign_names, 0.1), embedding=np.zeros(0, dtype=np.float32),
        abstain=bool(abstain_reasons) or nan, abstain_reasons=abstain_reasons,
    ).to_dict()  # fmt: skip


def file_scores(service: Any, family_id: str, scores: list[dict[str, Any]]) -> None:
    """Photo rows of `family_id` holding `scores`, filed in this order."""
    from sqlalchemy import select

    from serving.db.models import Photo, User
    from serving.db.session import session_scope

    with session_scope(service.services.sessions) as session:
        inspector = session.execute(select(User.id).where(User.username == "inspector"))
        uploaded_by = inspector.scalar_one()
        for n, score in enumerate(scores):
            session.add(
                Photo(
                    family_id=family_id, sha256=f"{family_id}-{n:06d}".ljust(64, "0"),
                    format="jpeg", width=640, height=480, size_bytes=1000, uploaded_by=uploaded_by,
                    score=score, model_version=score["model_version"],
                )
            )  # fmt: skip


def drift_report(service: Any, who: str = "admin_national") -> dict[str, Any]:
    answer = service.client.get("/reports/drift", headers=service.headers(who))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def drift_table(service: Any) -> str:
    """The oversight page's drift table (HTML), as a national admin sees it."""
    from fastapi.testclient import TestClient

    from tests.web.helpers import sign_in

    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "admin_national", PASSWORD).status_code == 303
    page = browser.get("/ui/oversight")
    assert page.status_code == 200, page.text
    return page.text.split('id="cap-drift"')[1].split("</table>")[0]


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    return make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3)


def drift_readings(service: Any) -> list[str]:
    """The reading column of the oversight page's drift table."""
    table = drift_table(service)
    return [row.split("<td>")[2].split("</td>")[0] for row in table.split("</tr>")[1:-1]]
