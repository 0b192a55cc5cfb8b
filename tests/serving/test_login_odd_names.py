"""Sign-in with a username no account can have (a NUL or other control character, or too
long): the same 401 as an unknown name, counted by the limits, and audited with the name
escaped. On PostgreSQL a NUL in text is refused, so such a name was a 500, and the audit
entry of a refused window (429) was lost with it."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from serving import audit
from serving.db.session import session_scope
from serving.ratelimit import RateLimiter
from tests.serving.helpers import audit_entries
from tests.web.helpers import sign_in

ODD_NAMES = {
    "a\x00b": "a\\x00b",
    "commission\n": "commission\\n",
    "ins\u200bpector": "ins\\u200bpector",
    "x" * 65: "x" * 64,
}


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _login(service, username: str, address: str = "10.7.0.1"):
    client = TestClient(service.app, base_url="http://127.0.0.1", client=(address, 50000))
    return client.post("/auth/token", data={"username": username, "password": "wrong guess"})


def _verify(service) -> None:
    with session_scope(service.services.sessions) as session:
        result = audit.verify(session, service.services.signing_key)
    assert result.ok, result.problems


def test_a_name_no_account_can_have_is_a_401_counted_and_audited_escaped(service):
    for name, logged in ODD_NAMES.items():
        answer = _login(service, name)
        assert answer.status_code == 401, (name, answer.text)
        assert answer.json()["message"] == "wrong username or password"
        assert audit_entries(service, "login_failed")[-1].actor == logged
    page = sign_in(service.client, "a\x00b", "wrong guess")  # the sign-in page, likewise
    assert page.status_code == 401 and "Wrong user name or password" in page.text
    # Failures count against the name's limit, as for any unknown name.
    limiter = service.services.login_account_limiter
    for i in range(limiter.limit):  # each from its own address: the client limit stays clear
        _login(service, "a\x00b", address=f"10.7.1.{i}")
    refused = _login(service, "a\x00b", address="10.7.2.1")
    assert refused.status_code == 429 and "for this username" in refused.json()["message"]
    _verify(service)


def test_a_refused_window_opened_by_a_nul_name_is_audited(make_service, monkeypatch):
    service = make_service()
    limiter = RateLimiter(limit=2, window_s=60, clock=Clock(), what="sign-in attempts")
    monkeypatch.setattr(service.services, "login_limiter", limiter)
    assert [_login(service, "ghost").status_code for _ in range(2)] == [401, 401]
    statuses = [_login(service, "a\x00b").status_code] + [
        _login(service, "ghost").status_code for _ in range(5)
    ]
    assert statuses == [429] * 6
    entries = audit_entries(service, "login_rate_limited")
    assert [(e.actor, e.target) for e in entries] == [("a\\x00b", "client:10.7.0.1")]
    _verify(service)


def test_a_refusal_whose_audit_write_fails_is_still_a_429(make_service, monkeypatch, caplog):
    service = make_service()
    limiter = RateLimiter(limit=1, window_s=60, clock=Clock(), what="sign-in attempts")
    monkeypatch.setattr(service.services, "login_limiter", limiter)
    assert _login(service, "ghost").status_code == 401

    def broken(*_args, **_kwargs):
        raise OperationalError("INSERT INTO audit_log", {}, Exception("database went away"))

    monkeypatch.setattr(audit, "append", broken)
    with caplog.at_level(logging.ERROR, logger="serving.api.routes.auth"):
        assert _login(service, "ghost").status_code == 429
    assert "login_rate_limited for 'client:10.7.0.1' not audited" in caplog.text
    monkeypatch.undo()
    _verify(service)
