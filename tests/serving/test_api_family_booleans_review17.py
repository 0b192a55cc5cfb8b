"""A true/false given for a count through the API is refused, not stored as 1 or 0.

The API's body model read criteria as `float | str | None`, so pydantic turned `true` into
1.0 before welfare.schema could refuse it: `"members_total": true` made a family of one. A
yes/no flag still takes true/false.
"""

from __future__ import annotations

from tests.serving.helpers import family_body, started
from welfare.criteria import get_welfare_config


def _a_flag() -> str:
    return next(c.name for c in get_welfare_config().criteria if c.kind == "flag")


def test_true_for_a_count_is_refused_on_create_and_update_and_nothing_is_stored(tmp_path):
    with started(tmp_path) as service:
        who = service.headers("inspector")
        body = family_body("F1")
        body["criteria"] = {**body["criteria"], "members_total": True}
        refused = service.client.post("/families", json=body, headers=who)
        assert refused.status_code == 422, refused.text
        assert "members_total" in refused.text and "true/false is only for yes/no" in refused.text
        assert service.client.get("/families/F1", headers=who).status_code == 404

        service.create_family("F1")
        changed = {"criteria": {**family_body("F1")["criteria"], "members_total": True}}
        refused = service.client.put("/families/F1", json=changed, headers=who)
        assert refused.status_code == 422, refused.text
        assert "true/false is only for yes/no" in refused.text
        stored = service.client.get("/families/F1", headers=who).json()
        assert stored["criteria"]["members_total"] == family_body("F1")["criteria"]["members_total"]


def test_true_for_a_yes_no_flag_is_still_taken(tmp_path):
    flag = _a_flag()
    with started(tmp_path) as service:
        who = service.headers("inspector")
        body = family_body("F1")
        body["criteria"] = {**body["criteria"], flag: True}
        created = service.client.post("/families", json=body, headers=who)
        assert created.status_code == 201, created.text
        assert created.json()["criteria"][flag] == 1
