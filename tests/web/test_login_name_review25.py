"""Review 25 (p507): the sign-in page takes the username as the API's sign-in does, its length
checked once the spaces around it are dropped: a 64-character name that an autocomplete ended
with a space signs in, not a 422."""

from __future__ import annotations

from typing import Any

from serving.db.session import session_scope
from serving.users import USERNAME_MAX_CHARS, create_user
from serving.web.routes import auth as web_auth
from tests.serving.helpers import PASSWORD
from tests.web.helpers import sign_in
from tests.web.sign_in_helpers import api_login, fresh_client

LONGEST = "a" * USERNAME_MAX_CHARS


def _add_longest(web: Any) -> None:
    with session_scope(web.services.sessions) as session:
        create_user(session, username=LONGEST, password=PASSWORD, role="admin", region=None)


def test_the_longest_name_with_a_space_after_it_signs_in_by_the_form(web):
    _add_longest(web)
    assert api_login(web, f"{LONGEST} ").status_code == 200  # as the API takes it

    answer = sign_in(fresh_client(web), f"{LONGEST} ", PASSWORD)

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == web_auth.LANDING["admin"]


def test_the_longest_name_with_spaces_and_a_wrong_password_is_the_ordinary_refusal(web):
    _add_longest(web)

    answer = sign_in(fresh_client(web), f" {LONGEST} ", "not the password")

    assert answer.status_code == 401, answer.text


def test_a_name_longer_than_any_account_is_wrong_credentials_as_on_the_api(web):
    too_long = "a" * (USERNAME_MAX_CHARS + 1)
    assert api_login(web, too_long).status_code == 401

    answer = sign_in(fresh_client(web), too_long, PASSWORD)

    assert answer.status_code == 401, answer.text
