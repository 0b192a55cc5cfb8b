"""A refused password change points at the field it is about (WCAG 3.3.1, 1.3.1).

That field is marked invalid, described by the reason (and by the note that the form was
emptied), and focused; the others are not. Passwords are never filled in again. The plain
tests read the page's HTML (TestClient); where focus really lands is checked in Chromium in
tests/web/test_titles_tables_times.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from serving.users import PASSWORD_MIN_CHARS
from tests.serving.helpers import PASSWORD, make_settings
from tests.web.helpers import csrf_from, inputs, sign_in

FIELDS = ("current-password", "new-password", "new-password-again")
NEW = "a brand new pass phrase"


def _fields(page: str) -> dict[str, dict[str, str | None]]:
    """The attributes of each password field, by id."""
    fields = {key: found for key, found in inputs(page, by="id").items() if key in FIELDS}
    assert set(fields) == set(FIELDS)
    return fields


def _form(new: str = NEW, *, current: str = PASSWORD, again: str | None = None) -> dict:
    return {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
    }


def _post(client: Any, data: dict) -> Any:
    page = client.get("/ui/password")
    return client.post("/ui/password", data={**data, "csrf_token": csrf_from(page.text)})


@pytest.mark.parametrize(
    ("form", "invalid"),
    [
        (_form(current="not the password"), ("current-password",)),
        (_form("x" * (PASSWORD_MIN_CHARS - 1)), ("new-password",)),
        (_form(PASSWORD), ("new-password",)),
        (_form("a long pass\tphrase"), ("new-password",)),
        (_form(again="a brand new pass phrasE"), ("new-password", "new-password-again")),
    ],
    ids=["wrong_current", "too_short", "unchanged", "control_character", "mismatch"],
)
def test_a_refusal_marks_describes_and_focuses_the_field_it_is_about(browser_for, form, invalid):
    answer = _post(browser_for("inspector"), form)
    assert answer.status_code in (403, 422)
    fields = _fields(answer.text)
    assert [f for f in FIELDS if fields[f].get("aria-invalid") == "true"] == list(invalid)
    for name in FIELDS:
        described = (fields[name].get("aria-describedby") or "").split()
        assert ("password-error" in described) == (name in invalid), name
        assert ("password-retype" in described) == (name in invalid), name
        assert "value" not in fields[name] or not fields[name]["value"]  # never filled in
    assert "new-password-help" in (fields["new-password"].get("aria-describedby") or "")
    assert [f for f in FIELDS if "autofocus" in fields[f]] == [invalid[0]]
    assert 'id="password-retype"' in answer.text


def test_the_limit_on_wrong_passwords_points_at_the_current_password(tmp_path):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from tests.serving.helpers import seed_users

    limits = {"login_per_minute": 100, "login_per_account": 1, "login_account_window_minutes": 15}
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'l.db'}", rate_limits=limits))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        seed_users(app)
        assert sign_in(client, "commission", PASSWORD).status_code == 303
        assert _post(client, _form(current="a wrong guess")).status_code == 403
        limited = _post(client, _form())
        assert limited.status_code == 429
        fields = _fields(limited.text)
        assert fields["current-password"].get("aria-invalid") == "true"
        assert "autofocus" in fields["current-password"]


def test_the_plain_form_marks_nothing_and_starts_at_the_current_password(browser_for):
    fields = _fields(browser_for("annotator").get("/ui/password").text)
    assert not [f for f in FIELDS if "aria-invalid" in fields[f]]
    assert [f for f in FIELDS if "autofocus" in fields[f]] == ["current-password"]
    assert fields["new-password"].get("aria-describedby") == "new-password-help"
