"""Review 16: JSON bodies that cannot be read are a 422 naming why (not FastAPI's wordless
400, never a 500); values that are no finite number are refused where a record needs one;
and a refresh run while photos are uploaded leaves every family either current or found
stale by the next run, with one audited version per recompute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import assessments_refresh, audit
from serving.assessments_refresh import refresh
from serving.db.models import Assessment, Photo
from serving.reassessment import find_stale, resolve_refresh_actor
from tests.serving.helpers import Service, audit_entries, criteria, family_body, jpeg, started
from tests.serving.refresh_scene import assessment_versions

BODY = json.dumps(family_body("J1"))
INCOME = '"per_capita_income_kzt": 25000.0'
assert INCOME in BODY


def _with_income(literal: str) -> str:
    return BODY.replace(INCOME, f'"per_capita_income_kzt": {literal}')


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with started(tmp_path_factory.mktemp("json")) as service:
        yield service


def _post(api: Service, content: bytes | str, family_id: str = "J1") -> Any:
    headers = {**api.headers("inspector"), "Content-Type": "application/json"}
    answer = api.client.post("/families", content=content, headers=headers)
    assert answer.headers["content-type"].startswith("application/json")
    if answer.status_code != 201:  # nothing stored
        gone = api.client.get(f"/families/{family_id}", headers=api.headers("inspector"))
        assert gone.status_code == 404, gone.text
    return answer


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (BODY.replace('"urban"', '"urb\xe9n"').encode("latin-1"), "the body is not UTF-8 text"),
        (b"\xff\xfe\x00", "the body is not UTF-8 text"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nests arrays or objects too deeply"),
        ("[" * 100_000 + "]" * 100_000, "nests arrays or objects too deeply"),
        (_with_income("1" + "0" * 5000), "a number in the body has too many digits"),
        (BODY.replace("{", '{"region": "x", ', 1), "'region' is given twice in the object"),
        (BODY[:-1], "JSON decode error"),
    ],
    ids=["latin1", "bad_bytes", "deep_object", "deep_array", "digits", "twice", "truncated"],
)
def test_a_body_that_cannot_be_read_is_a_422_saying_why(api, content, said):
    answer = _post(api, content)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "request_invalid"
    assert said in answer.json()["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_a_number_that_is_not_finite_is_refused_in_the_record(api, literal):
    answer = _post(api, _with_income(literal))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "family_record_invalid"
    assert "per_capita_income_kzt: expected a finite number" in answer.json()["message"]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "body: Field required"),
        (f"[{BODY}]", "body: Input should be a valid dictionary"),
        ("null", "body: Input should be a valid dictionary"),
    ],
    ids=["empty", "array", "null"],
)
def test_an_empty_body_or_one_that_is_no_object_is_a_422(api, content, said):
    answer = _post(api, content)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "request_invalid" and said in answer.json()["message"]


def test_a_utf8_body_with_a_byte_order_mark_is_read_as_without_it(api):
    body = BODY.replace('"J1"', '"BOM1"')
    answer = _post(api, b"\xef\xbb\xbf" + body.encode("utf-8"), family_id="BOM1")
    assert answer.status_code == 201, answer.text
    assert answer.json()["family_id"] == "BOM1"
    assert answer.json()["criteria"]["per_capita_income_kzt"] == 25000.0


def test_loads_strict_refuses_each_unreadable_body_as_invalid_json():
    from serving.api.strict_json import loads_strict

    assert loads_strict(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    for body in (b'{"a": "\xe9"}', b"[" * 100_000, b"1" * 5000, b'{"a": 1, "a": 2}', b""):
        with pytest.raises(json.JSONDecodeError):
            loads_strict(body)


# --- refresh while photos are uploaded ---------------------------------------------------------


def _stale_records(service: Service, family_ids: list[str]) -> None:
    for family_id in family_ids:
        service.create_family(family_id)
        made = service.client.post(
            f"/families/{family_id}/assessments", headers=service.headers("inspector")
        )
        assert made.status_code == 201, made.text
        body = {"criteria": criteria(per_capita_income_kzt=31000.0)}
        edited = service.client.put(
            f"/families/{family_id}", json=body, headers=service.headers("inspector")
        )
        assert edited.status_code == 200, edited.text


def test_a_refresh_during_uploads_leaves_each_family_current_or_stale_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with started(tmp_path) as service:
        _stale_records(service, ["A", "B", "C"])
        real, uploaded = assessments_refresh.recompute, {}

        def upload_meanwhile(services: Any, family_id: str, **kwargs: Any) -> int | None:
            if family_id == "B":  # A is done, B not yet: a photo for each
                for seed, fid in enumerate(("A", "B"), start=1):
                    answer = service.upload(fid, jpeg(seed))
                    assert answer.status_code == 201, answer.text
                    uploaded[fid] = answer.json()["photo_id"]
            return real(services, family_id, **kwargs)

        monkeypatch.setattr(assessments_refresh, "recompute", upload_meanwhile)
        services = service.services
        with services.sessions() as session:
            actor = resolve_refresh_actor(session, "admin_national", region=None)
        seen = len(audit_entries(service))
        report = refresh(services, actor=actor, progress=False)
        assert [(f.family_id, f.version) for f in report.families] == [
            ("A", 2), ("B", 2), ("C", 2)
        ]  # fmt: skip
        with services.sessions() as session:
            b2 = session.execute(
                select(Assessment).where(Assessment.family_id == "B", Assessment.version == 2)
            ).scalar_one()
            assert uploaded["B"] in b2.photo_ids  # uploaded before its turn: assessed with it
            assert session.get_one(Photo, uploaded["A"]).family_id == "A"
        # A's photo came after its turn: A is stale again, and the next run finds it.
        assert [(s.family_id, s.reason) for s in find_stale(services)] == [("A", "photos")]
        monkeypatch.setattr(assessments_refresh, "recompute", real)
        again = refresh(services, actor=actor, progress=False)
        assert [(f.family_id, f.version) for f in again.families] == [("A", 3)]
        assert find_stale(services) == []
        assert refresh(services, actor=actor, progress=False).families == []
        assert assessment_versions(service) == {"A": [1, 2, 3], "B": [1, 2], "C": [1, 2]}
        created = [e for e in audit_entries(service)[seen:] if e.action == "assessment_created"]
        assert len(created) == 4  # one per new version, none for the run that found nothing
        with services.sessions() as session:
            assert audit.verify(session, services.signing_key).ok
