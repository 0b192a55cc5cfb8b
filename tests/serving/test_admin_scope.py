"""Scope beyond one region: what a regional admin may grant, list and verify; family-id
answers that do not reveal other regions; /metrics served only to listed addresses."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from fastapi.testclient import TestClient

from serving.api.routes.system import client_may_scrape
from tests.serving.helpers import OTHER_REGION, PASSWORD, REGION, family_body


def _add(service, who: str, *, username: str, role: str, region: str | None):
    body = {"username": username, "password": PASSWORD, "role": role, "region": region}
    return service.client.post("/users", json=body, headers=service.headers(who))


def _usernames(service, who: str) -> set[str]:
    response = service.client.get("/users", headers=service.headers(who))
    assert response.status_code == 200, response.text
    return {u["username"] for u in response.json()}


@pytest.mark.parametrize(
    ("role", "region"),
    [("admin", None), ("inspector", OTHER_REGION), ("admin", OTHER_REGION)],
)
def test_regional_admin_cannot_grant_beyond_its_region(service, role, region):
    response = _add(service, "admin", username="grabbed", role=role, region=region)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "region_out_of_scope" and REGION in body["message"]
    assert "grabbed" not in _usernames(service, "admin_national")


@pytest.mark.parametrize("role", ["inspector", "commission", "admin"])
def test_regional_admin_may_create_accounts_of_its_region(service, role):
    response = _add(service, "admin", username=f"new.{role}", role=role, region=REGION)
    assert response.status_code == 201, response.text
    assert response.json()["region"] == REGION


def test_national_admin_may_create_national_and_other_region_accounts(service):
    national = _add(service, "admin_national", username="nat2", role="admin", region=None)
    assert national.status_code == 201 and national.json()["region"] is None
    away = _add(service, "admin_national", username="away1", role="inspector", region=OTHER_REGION)
    assert away.status_code == 201 and away.json()["region"] == OTHER_REGION


def test_user_list_is_filtered_for_a_regional_admin(service):
    regional = service.client.get("/users", headers=service.headers("admin")).json()
    assert regional and {u["region"] for u in regional} == {REGION}
    everyone = _usernames(service, "admin_national")
    assert {"inspector_other", "commission_other", "admin_national"} <= everyone
    assert {u["username"] for u in regional} < everyone


def test_audit_verify_is_for_national_admins_only(service):
    refused = service.client.get("/audit/verify", headers=service.headers("admin"))
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "national_scope_required" and set(body) == {"code", "message"}
    served = service.client.get("/audit/verify", headers=service.headers("admin_national"))
    assert served.status_code == 200 and served.json()["ok"] is True


def test_audit_verify_declares_its_national_scope(service):
    operation = service.client.get("/openapi.json").json()["paths"]["/audit/verify"]["get"]
    assert operation["x-policy"] == {"roles": ["admin"], "scope": "national"}


def _file(service, family_id: str, region: str = REGION, who: str = "inspector"):
    return service.client.post(
        "/families", json=family_body(family_id, region), headers=service.headers(who)
    )


def test_family_id_taken_in_another_region_is_not_confirmed(service):
    service.create_family("AWAY-1", region=OTHER_REGION)
    service.create_family("AWAY-2", region=OTHER_REGION)
    first, second = _file(service, "AWAY-1"), _file(service, "AWAY-2")
    assert first.status_code == second.status_code == 409
    assert first.json()["code"] == "family_id_unavailable"
    # The same answer whichever id it is: nothing about the other family leaks into it.
    assert first.json() == second.json()
    text = first.text.lower()
    for leak in ("exist", OTHER_REGION, "away-1", "region"):
        assert leak not in text, leak
    # The family in the other region is untouched.
    away = service.client.get("/families/AWAY-1", headers=service.headers("admin_national"))
    assert away.json()["region"] == OTHER_REGION and away.json()["version"] == 1


def test_family_id_in_own_region_still_says_it_exists(service):
    service.create_family("HOME")
    response = _file(service, "HOME")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "exists already" in response.json()["message"]


def test_filing_in_another_region_answers_the_same_for_taken_and_new_ids(service):
    """An id the caller may not create: the answer does not depend on whether it exists."""
    service.create_family("AWAY", region=OTHER_REGION)
    taken = _file(service, "AWAY", region=OTHER_REGION)
    new = _file(service, "NEVER-FILED", region=OTHER_REGION)
    assert taken.status_code == new.status_code == 403
    assert taken.json() == new.json()


def test_family_create_documents_both_conflicts(service):
    operation = service.client.get("/openapi.json").json()["paths"]["/families"]["post"]
    conflict = operation["responses"]["409"]["description"]
    assert "`conflict`" in conflict and "`family_id_unavailable`" in conflict


def test_metrics_served_to_listed_addresses_only(service):
    # conftest's client reports "testclient", which tests/serving/helpers.py allows.
    assert service.client.get("/metrics").status_code == 200
    for host, served in (("127.0.0.1", True), ("::1", True), ("203.0.113.7", False)):
        client = TestClient(service.app, base_url="http://127.0.0.1", client=(host, 50000))
        response = client.get("/metrics")
        if served:
            assert response.status_code == 200, host
            assert "shanyraq_http_requests_total" in response.text
        else:
            assert response.status_code == 403, host
            assert response.json()["code"] == "metrics_client_not_allowed"
            assert "shanyraq_" not in response.text


def test_metrics_refused_when_the_test_client_is_not_listed(make_service):
    service = make_service(metrics_allowed_clients=["127.0.0.1", "::1"])
    response = service.client.get("/metrics")
    assert response.status_code == 403 and response.json()["code"] == "metrics_client_not_allowed"
    assert service.client.get("/health").status_code == 200  # only /metrics is restricted


def test_metrics_off_with_an_empty_list(make_service):
    service = make_service(metrics_allowed_clients=[])
    assert service.client.get("/metrics").status_code == 403


def test_client_may_scrape_matches_addresses_networks_and_names():
    allowed = [ip_network("127.0.0.1"), ip_network("::1"), ip_network("10.0.0.0/24"), "testclient"]
    for served in ("127.0.0.1", "::1", "10.0.0.9", "::ffff:127.0.0.1", "testclient"):
        assert client_may_scrape(served, allowed), served
    for refused in (None, "127.0.0.2", "10.0.1.1", "::2", "localhost", "testclient2", ""):
        assert not client_may_scrape(refused, allowed), refused
