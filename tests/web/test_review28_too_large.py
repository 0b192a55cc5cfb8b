"""A request over the body limit (serving.api.body_limit) through the real app: the page names
the limit in megabytes from the settings, in the reader's language; a signed-in sender's
refusal is audited (`request_too_large`), an anonymous one is not (anyone could fill the log)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator

import pytest

from serving.core.config import load_serving_settings
from tests.serving.helpers import family_body
from tests.web.helpers import found_text, page_client
from tests.web.too_large_helpers import (
    CATALOGUES,
    LIMIT,
    MULTIPART,
    page_post_over,
    too_large_entries,
)

SHOWN = {"en": "1.2", "ru": "1,2", "kk": "1,2"}  # each language's decimal mark


# --- the page names the limit -----------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_413_page_names_the_limit_in_megabytes(limited, language):
    answer = page_post_over(page_client(limited, "inspector", language), LIMIT)
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    said = found_text(r'<p id="error-limit">(.*?)</p>', answer.text)
    assert said == CATALOGUES[language]["error.body_limit"].format(mb=SHOWN[language])
    assert f"{SHOWN[language]}\u00a0" in said
    # The reason stays the page's first paragraph, as it was.
    reason = found_text(r"</h1>\s*<p>(.*?)</p>", answer.text)
    assert reason == CATALOGUES[language]["error_reason.body_too_large"]


def test_the_413_page_names_the_limit_the_shipped_config_sets(web):
    shipped = load_serving_settings().max_body_bytes  # configs/serving.yaml
    assert web.services.settings.max_body_bytes == shipped
    answer = page_post_over(page_client(web, "inspector"), shipped)
    assert answer.status_code == 413
    said = found_text(r'<p id="error-limit">(.*?)</p>', answer.text)
    assert said == CATALOGUES["en"]["error.body_limit"].format(mb=f"{shipped // 100_000 / 10:g}")


# --- the refusal is audited -------------------------------------------------------------------


def test_a_page_post_over_the_limit_is_audited_with_its_sender(limited):
    answer = page_post_over(page_client(limited, "inspector"), LIMIT)
    assert answer.status_code == 413
    [entry] = too_large_entries(limited)
    assert (entry.actor, entry.target) == ("inspector", None)
    assert entry.details == {
        "method": "POST", "path": "/ui/upload", "limit_bytes": LIMIT, "json_body": False,
        "declared_bytes": LIMIT + 1, "received_bytes": 0,
    }  # fmt: skip


def test_a_streamed_api_upload_over_the_limit_is_audited_and_its_answer_names_the_limit(limited):
    limited.create_family("F1")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(4):
            yield b"x" * 500_000

    answer = limited.client.post(
        "/families/F1/photos", content=chunks(),
        headers={**MULTIPART, **limited.headers("inspector")},
    )  # fmt: skip
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"
    assert f"larger than {LIMIT} bytes" in answer.json()["message"]
    [entry] = too_large_entries(limited)
    assert entry.actor == "inspector"
    assert entry.details["path"] == "/families/F1/photos"
    assert entry.details["limit_bytes"] == LIMIT and entry.details["declared_bytes"] is None
    assert LIMIT < entry.details["received_bytes"] <= 2_000_000


def test_a_json_body_over_its_limit_is_audited_with_the_json_limit(limited):
    json_limit = limited.services.settings.max_json_body_bytes
    body = json.dumps(family_body("J1")).encode()
    answer = limited.client.post(
        "/families", content=body,
        headers={
            "Content-Type": "application/json", "Content-Length": str(json_limit + 5),
            **limited.headers("admin"),
        },
    )  # fmt: skip
    assert answer.status_code == 413 and answer.json()["code"] == "body_too_large"
    [entry] = too_large_entries(limited)
    assert entry.actor == "admin"
    assert entry.details["json_body"] is True
    assert (entry.details["limit_bytes"], entry.details["declared_bytes"]) == (
        json_limit,
        json_limit + 5,
    )


def test_a_refusal_without_a_valid_sign_in_is_not_audited(limited):
    """Anyone can send these, as they can a request without a token (not audited either):
    one entry each would let a flood of headers fill the log."""
    from fastapi.testclient import TestClient

    signed_out = limited.sign_in("inspector")
    out = limited.client.post("/auth/logout", headers={"Authorization": f"Bearer {signed_out}"})
    assert out.status_code == 204
    over = {**MULTIPART, "Content-Length": str(LIMIT + 1)}
    for credentials in ({}, {"Authorization": "Bearer forged"},
                        {"Authorization": f"Bearer {signed_out}"}):  # fmt: skip
        answer = limited.client.post(
            "/families/F1/photos", content=b"x", headers={**over, **credentials}
        )
        assert answer.status_code == 413, credentials
    anonymous = TestClient(limited.app, base_url="http://127.0.0.1")
    assert anonymous.post("/ui/upload", content=b"x", headers=over).status_code == 413
    assert too_large_entries(limited) == []


def test_the_audit_page_names_the_refusal_in_the_readers_language(limited):
    assert page_post_over(page_client(limited, "inspector"), LIMIT).status_code == 413
    admin = page_client(limited, "admin", "ru")  # the inspector's region's admin
    page = admin.get("/ui/audit?code=request_too_large").text
    assert html.escape(CATALOGUES["ru"]["audit_action.request_too_large"]) in page
    assert "/ui/upload" in page and "inspector" in page
