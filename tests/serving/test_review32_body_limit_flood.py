"""A signed-in sender's requests over the body limit (serving.api.body_limit) are audited only
while they stay within the sender's upload limit; past it one notice a window is, never an
entry a request: an over-limit Content-Length header alone (no body) is enough to be refused,
so without the bound a token holder could write audit entries at the rate of their requests.
The answer stays 413 throughout, and these refusals use up the sender's uploads as the upload
route's own refusals do.

Through the real app, on SQLite, with `upload_per_minute: 3`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.helpers import Service, audit_entries, jpeg, started
from tests.web.helpers import csrf_from, page_client

LIMIT = 3  # upload_per_minute
MAX_BODY = 1_234_567  # max_body_bytes of these tests
SENT = 3 * LIMIT  # over-limit requests sent, far more than the limit allows
MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Service]:
    overrides: dict[str, Any] = {
        "max_body_bytes": MAX_BODY, "rate_limits": {"upload_per_minute": LIMIT},
    }  # fmt: skip
    with started(tmp_path, **overrides) as service:
        service.create_family("F1")
        yield service


def _declared_over(service: Service, path: str, *, json_body: bool = False) -> Any:
    """A request declaring a body over its limit and sending a few bytes (refused unread)."""
    limit = service.services.settings.max_json_body_bytes if json_body else MAX_BODY
    kind = {"Content-Type": "application/json"} if json_body else MULTIPART
    headers = {**kind, "Content-Length": str(limit + 1), **service.headers("inspector")}
    return service.client.post(path, content=b"{}", headers=headers)


def test_a_flood_of_over_limit_requests_is_audited_within_the_upload_limit(limited):
    answers = [_declared_over(limited, "/families/F1/photos") for _ in range(SENT)]
    # The client still learns, every time, that its body is too large.
    assert [a.status_code for a in answers] == [413] * SENT
    assert all(a.json()["code"] == "body_too_large" for a in answers)
    entries = audit_entries(limited, "request_too_large")
    # Each one under the limit audited, then one notice for the window, however many follow.
    assert len(entries) == LIMIT + 1
    assert all(e.actor == "inspector" for e in entries)
    assert all(e.details["declared_bytes"] == MAX_BODY + 1 for e in entries)
    assert all("window_s" not in e.details for e in entries[:LIMIT])
    notice = entries[-1].details
    assert (notice["limit"], notice["refused_in_previous_window"]) == (LIMIT, 0)
    assert notice["path"] == "/families/F1/photos"


def test_the_bound_holds_on_every_path_not_only_uploads(limited):
    """A JSON body has its own, smaller limit on every route: the flood works there too."""
    paths = ["/families", "/families/F1/photos", "/families/F1/assessments"]
    answers = [_declared_over(limited, paths[i % len(paths)], json_body=True) for i in range(SENT)]
    assert [a.status_code for a in answers] == [413] * SENT
    assert len(audit_entries(limited, "request_too_large")) == LIMIT + 1


def test_refusals_over_the_body_limit_use_up_the_senders_uploads(limited):
    """They count as the upload route's refusals do: an inspector sending oversize bodies at
    the limit's rate is answered 429 for a photo as well, and that notice comes once too."""
    for _ in range(LIMIT):
        assert _declared_over(limited, "/families/F1/photos").status_code == 413
    assert limited.upload("F1", jpeg(1)).status_code == 429
    assert _declared_over(limited, "/families/F1/photos").status_code == 413
    assert len(audit_entries(limited, "request_too_large")) == LIMIT  # the 429 gave the notice
    [notice] = audit_entries(limited, "photo_refused")
    assert notice.details["code"] == "rate_limited"


def test_page_posts_over_the_limit_are_bounded_as_well(limited):
    client = page_client(limited, "inspector")
    token = csrf_from(client.get("/ui/upload").text)
    body = f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n--b--\r\n'
    headers = {**MULTIPART, "Content-Length": str(MAX_BODY + 1)}
    statuses = [
        client.post("/ui/upload", content=body.encode(), headers=headers).status_code
        for _ in range(SENT)
    ]
    assert statuses == [413] * SENT
    entries = audit_entries(limited, "request_too_large")
    assert len(entries) == LIMIT + 1 and {e.actor for e in entries} == {"inspector"}


def test_an_anonymous_flood_is_still_not_audited_nor_counted(limited):
    over = {**MULTIPART, "Content-Length": str(MAX_BODY + 1)}
    for _ in range(SENT):
        answer = limited.client.post("/families/F1/photos", content=b"x", headers=over)
        assert answer.status_code == 413
    assert audit_entries(limited, "request_too_large") == []
    # Nobody's uploads were used up by them.
    assert limited.upload("F1", jpeg(1)).status_code == 201


def test_a_notice_the_database_refused_is_written_with_the_next_refusal(limited, monkeypatch):
    import serving.api.body_limit as body_limit

    for _ in range(LIMIT):
        assert _declared_over(limited, "/families/F1/photos").status_code == 413

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database is gone")

    with monkeypatch.context() as patched:
        patched.setattr(body_limit, "session_scope", refused)
        assert _declared_over(limited, "/families/F1/photos").status_code == 413
    assert len(audit_entries(limited, "request_too_large")) == LIMIT
    assert _declared_over(limited, "/families/F1/photos").status_code == 413
    entries = audit_entries(limited, "request_too_large")
    assert len(entries) == LIMIT + 1 and entries[-1].details["limit"] == LIMIT
    assert _declared_over(limited, "/families/F1/photos").status_code == 413
    assert len(audit_entries(limited, "request_too_large")) == LIMIT + 1
