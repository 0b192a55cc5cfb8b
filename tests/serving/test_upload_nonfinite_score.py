"""An upload whose scores come out NaN (an fp16 overflow on a GPU, a broken model) is filed,
on SQLite and PostgreSQL: the answer is JSON with null probabilities and the photo abstains
(`low_confidence`); the stored row holds nulls, the API reads it back, and the family page
shows dashes, never 'nan'."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from serving.db.models import Photo
from tests.serving.helpers import PASSWORD, jpeg
from tests.vision.engine_fixtures import nan_heads
from tests.web.helpers import sign_in
from vision.score import ABSTAIN_LOW_CONFIDENCE

HEADS = ("room", "condition", "signs")
NAN_WORD = re.compile(r"\bnan\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    return make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3)


def _nan_scores(service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's engine gives NaN head logits from now on (its run_logits wrapped): the one
    stand-in for a GPU's fp16 overflow, which cannot be made to happen here."""
    engine = service.services.pipeline.engine
    assert engine is not None
    run = engine.run_logits

    def run_logits(batch: np.ndarray) -> dict[str, np.ndarray]:
        return nan_heads(engine, run(batch))

    monkeypatch.setattr(engine, "run_logits", run_logits)


def _all_null(score: dict[str, Any]) -> bool:
    return all(set(score[head].values()) == {None} for head in HEADS)


def _photo_figure(page: str, photo_id: int) -> str:
    start = page.index(f'aria-labelledby="ph-{photo_id}"')
    return page[start : page.index("</figure>", start)]


def _family_page_figure(service: Any, photo_id: int) -> str:
    """The photo's figure on family F1's page as a commission member sees it; the page has
    no 'nan' anywhere."""
    from fastapi.testclient import TestClient

    commission = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(commission, "commission", PASSWORD).status_code == 303
    page = commission.get("/ui/families/F1")
    assert page.status_code == 200, page.text
    assert not NAN_WORD.search(page.text)
    return _photo_figure(page.text, photo_id)


def test_an_upload_scored_nan_is_filed_with_nulls_and_shown_with_dashes(
    make_service, model_dir, monkeypatch
):

    service = make_service(model_dir=model_dir)
    _nan_scores(service, monkeypatch)
    service.create_family("F1")

    answer = service.upload("F1", jpeg(1))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    score = body["score"]
    assert body["score_status"] == "scored" and _all_null(score)
    assert score["abstain"] is True and ABSTAIN_LOW_CONFIDENCE in score["abstain_reasons"]

    with service.services.sessions() as session:
        stored = session.execute(select(Photo).where(Photo.id == body["photo_id"])).scalar_one()
        assert stored.score is not None and _all_null(stored.score)
        assert stored.score["abstain"] is True
    again = service.client.get(f"/photos/{body['photo_id']}", headers=service.headers("inspector"))
    assert again.status_code == 200, again.text
    assert again.json()["score"] == score
    drift = service.client.get("/reports/drift", headers=service.headers("admin"))
    assert drift.status_code == 200, drift.text
    assert drift.json()["photos"] == 0  # no top room or grade to count: no evidence of a shift

    figure = _family_page_figure(service, body["photo_id"])
    shown = re.findall(r'<span class="num">([^<]*)</span>', figure)
    # The room table's three rows, every grade and every sign: a dash each, no bar drawn.
    expected = min(3, len(score["room"])) + len(score["condition"]) + len(score["signs"])
    assert shown == ["—"] * expected
    assert 'class="fill"' not in figure


def test_a_nan_score_stored_before_nulls_reads_as_nulls_and_dashes(make_service, database_url):
    """SQLite kept the text NaN in scores stored before PhotoScore.to_dict wrote null; such a
    row still answers JSON and renders. PostgreSQL's JSON column never held one."""

    from shanyraq.taxonomy import get_taxonomy

    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL refused NaN in JSON: no such row can exist there")
    service = make_service()  # no model: the score is written as it was stored then
    service.create_family("F1")
    body = service.upload("F1", jpeg(2)).json()
    taxonomy, nan = get_taxonomy(), float("nan")
    old = {
        "photo_sha256": body["sha256"], "model_version": "old-model",
        "room": dict.fromkeys(taxonomy.room_names, nan),
        "condition": {str(g): nan for g in taxonomy.condition_values},
        "signs": dict.fromkeys(taxonomy.sign_names, nan),
        "abstain": True, "abstain_reasons": [ABSTAIN_LOW_CONFIDENCE],
    }  # fmt: skip
    with service.services.sessions() as session:
        session.get(Photo, body["photo_id"]).score = old
        session.commit()
    with service.services.sessions() as session:
        assert np.isnan(session.get(Photo, body["photo_id"]).score["room"][taxonomy.room_names[0]])

    answer = service.client.get(f"/photos/{body['photo_id']}", headers=service.headers("inspector"))
    assert answer.status_code == 200, answer.text
    assert _all_null(answer.json()["score"]) and answer.json()["score"]["abstain"] is True
    again = service.upload("F1", jpeg(2))  # the same bytes: answered from the stored row
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and _all_null(again.json()["score"])

    figure = _family_page_figure(service, body["photo_id"])
    assert set(re.findall(r'<span class="num">([^<]*)</span>', figure)) == {"—"}


def test_a_retry_answered_from_an_answer_stored_with_nan_is_json(make_service, database_url):
    """An Idempotency-Key's stored answer holding NaN (SQLite, before to_dict wrote null) is
    replayed with nulls, not as a 500."""
    from serving.db.models import IdempotencyKey

    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL refused NaN in JSON: no such answer can exist there")
    service = make_service()
    service.create_family("F1")
    key = {"Idempotency-Key": "retry-nan"}
    first = service.upload("F1", jpeg(5), headers=key)
    assert first.status_code == 201, first.text
    with service.services.sessions() as session:  # as the answer was stored then
        row = session.execute(select(IdempotencyKey)).scalar_one()
        row.response = {**row.response, "score": {"room": {"kitchen": float("nan")}}}
        session.commit()
    retry = service.upload("F1", jpeg(5), headers=key)
    assert retry.status_code == 201, retry.text
    assert retry.json()["score"] == {"room": {"kitchen": None}}
    assert retry.json()["photo_id"] == first.json()["photo_id"]
