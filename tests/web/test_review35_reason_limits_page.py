"""The family page's reason fields follow configs/serving.yaml `reason_chars` as the service
runs with it: a service started with other limits shows them in the fields' maxlength and in
their help texts (grouped as the pages write numbers), and its forms admit and refuse reasons
at them, saying the configured figure."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.web.i18n import translator
from tests.serving.decision_helpers import assess
from tests.serving.helpers import Service, jpeg, started
from tests.web.helpers import csrf_from, found_text, page_client

# Other limits than the shipped ones (10, 2000, 500), each distinct; 1200 so the help text
# shows it grouped.
LIMITS = {"override_min": 1200, "decision_max": 1500, "room_correction_max": 20}


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Service]:
    """A started app whose serving settings have LIMITS, with family F1 and a photo of it
    filed by the inspector."""
    with started(tmp_path, reason_chars=dict(LIMITS)) as service:
        service.create_family("F1")
        filed = service.upload("F1", jpeg(91), data={"room_hint": "kitchen"})
        assert filed.status_code == 201, filed.text
        yield service


def _photo_id(service: Service) -> int:
    answer = service.client.get("/families/F1/photos", headers=service.headers("inspector"))
    assert answer.status_code == 200, answer.text
    (photo,) = answer.json()
    return int(photo["photo_id"])


def _field(page: str, field_id: str) -> str:
    """The opening tag of the textarea `field_id`."""
    found = re.search(rf'<textarea id="{field_id}"[^>]*>', page)
    assert found, f"the page has no textarea {field_id}"
    return found.group(0)


def _decide(client: Any, aid: int, reason: str) -> Any:
    """An override with `reason` sent through the family page's decision form."""
    page = client.get("/ui/families/F1").text
    form = {
        "csrf_token": csrf_from(page), "kind": "override", "level": "2",
        "reason_code": "income_evidence", "reason": reason, "assessment_id": str(aid),
    }  # fmt: skip
    return client.post("/ui/families/F1/decisions", data=form, follow_redirects=False)


@pytest.mark.parametrize(("language", "grouped"), [("en", "1,200"), ("kk", "1\u00a0200")])
def test_the_decision_form_shows_and_checks_the_configured_limits(limited, language, grouped):
    aid = assess(limited, level=3)
    client = page_client(limited, "commission", language)
    page = client.get("/ui/families/F1").text
    assert 'maxlength="1500"' in _field(page, "reason")
    t = translator(language)
    help_text = found_text(r'<p class="sub" id="reason-help">(.*?)</p>', page)
    assert help_text == t("decision.reason_help", n=grouped, max=t.number(1500))
    short = _decide(client, aid, "x" * 1199)
    assert short.status_code == 422, short.text
    said = found_text(r'<p class="error" role="alert" id="decision-error">(.*?)</p>', short.text)
    assert t("decision_error.reason_too_short", n=grouped) in said
    long = _decide(client, aid, "x" * 1501)
    assert long.status_code == 422, long.text
    said = found_text(r'<p class="error" role="alert" id="decision-error">(.*?)</p>', long.text)
    assert t("decision_error.reason_too_long", n=t.number(1500)) in said
    assert 'maxlength="1500"' in _field(long.text, "reason")  # shown again with the same limit
    # 1500 as stored (a CRLF is one break): recorded.
    recorded = _decide(client, aid, "x" * 1000 + "\r\n" + "y" * 499)
    assert recorded.status_code == 303, recorded.text


def test_the_room_form_shows_and_checks_the_configured_limit(limited):
    photo_id = _photo_id(limited)
    client = page_client(limited, "inspector")
    page = client.get("/ui/families/F1").text
    assert 'maxlength="20"' in _field(page, f"room-reason-{photo_id}")
    t = translator("en")
    help_text = found_text(rf'<p class="sub" id="room-reason-help-{photo_id}">(.*?)</p>', page)
    assert help_text == t("room_form.reason_help", n="20")

    def sent(reason: str) -> Any:
        token = csrf_from(client.get("/ui/families/F1").text)
        return client.post(
            f"/ui/families/F1/photos/{photo_id}/room",
            data={"csrf_token": token, "room_hint": "bathroom", "reason": reason},
            follow_redirects=False,
        )

    refused = sent("x" * 10 + "\r\n" + "y" * 10)  # 21 as stored
    assert refused.status_code == 422, refused.text
    error = t("room_form.reason_too_long", n="20")
    assert f"{t('room_form.refused')} {error}</p>" in html.unescape(refused.text)
    assert 'maxlength="20"' in _field(refused.text, f"room-reason-{photo_id}")
    assert sent("x" * 9 + "\r\n" + "y" * 10).status_code == 303  # 20 as stored
