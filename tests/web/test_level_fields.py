"""A level typed into a page's form or filter is a number in ASCII digits, else a clear 422.

`str.isdigit` is also true for digits such as "²" that `int` refuses: they were a 500.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from serving.db.models import Decision
from tests.web.helpers import csrf_from

NOT_ASCII_DIGITS = ["²", "٣", "x"]


@pytest.mark.parametrize("level", NOT_ASCII_DIGITS)
def test_the_level_filter_refuses_what_is_not_an_ascii_number(web, browser_for, level):
    commission = browser_for("commission")
    refused = commission.get("/ui/families", params={"level": level})
    assert refused.status_code == 422 and "level must be one of 1, 2, 3, 4, 5, 6" in refused.text
    assert commission.get("/ui/families", params={"level": "3"}).status_code == 200


@pytest.mark.parametrize("kind", ["override", "accept"])
@pytest.mark.parametrize("level", NOT_ASCII_DIGITS)
def test_the_decision_form_refuses_a_level_that_is_not_an_ascii_number(
    web, browser_for, level, kind
):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1")
    form = {
        "csrf_token": csrf_from(page.text), "kind": kind, "level": level,
        "reason_code": "income_evidence", "reason": "Employer letter shows arrears.",
        "assessment_id": page.text.split('name="assessment_id" value="')[1].split('"')[0],
    }  # fmt: skip
    refused = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    assert refused.status_code == 422, refused.text[:500]
    # The page words the refusal from its code (decision_error.level_not_chosen), in English
    # here; the API keeps the service's message ("... in digits").
    assert "Choose the level the commission decided, one of 1, 2, 3, 4, 5, 6." in refused.text
    with web.services.sessions() as session:
        assert session.execute(select(Decision)).first() is None
