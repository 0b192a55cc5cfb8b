"""Refused sign-ins (429) are audited once per limited address or username and window, with
the refusals of the window before, never once per request; the chain still verifies."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving import audit
from serving.db.models import AuditEntry
from serving.db.session import session_scope
from serving.ratelimit import LimitRefusedError, RateLimiter
from tests.serving.helpers import PASSWORD


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _login(service, username: str, password: str, address: str):
    client = TestClient(service.app, base_url="http://127.0.0.1", client=(address, 50000))
    return client.post("/auth/token", data={"username": username, "password": password})


def _limit_entries(service) -> list[AuditEntry]:
    with session_scope(service.services.sessions) as session:
        statement = (
            select(AuditEntry)
            .where(AuditEntry.action == "login_rate_limited")
            .order_by(AuditEntry.seq)
        )
        return list(session.execute(statement).scalars())


def _verify(service) -> None:
    with session_scope(service.services.sessions) as session:
        result = audit.verify(session, service.services.signing_key)
    assert result.ok, result.problems


def _refusals(limiter: RateLimiter, key: str, n: int) -> list[int | None]:
    """Refuse `key` n times; for each, the previous window's count if it was reported."""
    reported: list[int | None] = []
    for _ in range(n):
        with pytest.raises(LimitRefusedError) as caught:
            limiter.hit(key)
        reached = caught.value.reached
        reported.append(None if reached is None else reached.refused_in_previous_window)
    return reported


def test_the_limiter_reports_a_key_once_per_window():
    clock = Clock()
    limiter = RateLimiter(limit=2, window_s=60, clock=clock)
    limiter.hit("a")
    limiter.hit("a")
    assert _refusals(limiter, "a", 5) == [0, None, None, None, None]
    clock.now += 30
    assert _refusals(limiter, "a", 3) == [None] * 3  # the same window: 8 refusals in it
    limiter.hit("b")
    limiter.hit("b")
    assert _refusals(limiter, "b", 1) == [0]  # every key has its own window
    clock.now += 31  # 61 s after the first report; the hits of "a" have left their window
    limiter.hit("a")
    limiter.hit("a")
    assert _refusals(limiter, "a", 2) == [8, None]
    clock.now += 60
    limiter.hit("a")
    limiter.hit("a")
    assert _refusals(limiter, "a", 1) == [2]


def test_a_key_quiet_for_a_window_is_forgotten_by_the_sweep():
    clock = Clock()
    limiter = RateLimiter(limit=1, window_s=60, clock=clock, sweep_every=4)
    limiter.hit("a")
    assert _refusals(limiter, "a", 3) == [0, None, None]
    clock.now += 61
    for i in range(8):  # sweeps run
        limiter.hit(f"other-{i}")
    assert len(limiter._refusals) == 0
    limiter.hit("a")
    assert _refusals(limiter, "a", 1) == [0]  # a new episode


def test_a_flood_from_one_address_is_audited_once_per_window(make_service, monkeypatch):
    service = make_service()
    clock = Clock()
    limiter = RateLimiter(limit=3, window_s=60, clock=clock, what="sign-in attempts")
    monkeypatch.setattr(service.services, "login_limiter", limiter)
    statuses = [
        _login(service, "commission", "wrong guess", "10.9.0.1").status_code for _ in range(40)
    ]
    assert statuses[:3] == [401] * 3 and set(statuses[3:]) == {429}
    entries = _limit_entries(service)
    assert len(entries) == 1
    first = entries[0]
    assert (first.actor, first.target) == ("commission", "client:10.9.0.1")
    assert first.details == {"limit": 3, "window_s": 60, "refused_in_previous_window": 0}
    clock.now += 61  # a new window: three more tries, then refused again
    statuses = [_login(service, "ghost", "wrong guess", "10.9.0.1").status_code for _ in range(40)]
    assert set(statuses[3:]) == {429}
    entries = _limit_entries(service)
    assert len(entries) == 2
    assert entries[1].details["refused_in_previous_window"] == 37
    assert entries[1].actor == "ghost"
    # Another address is limited (and audited) on its own.
    statuses = [
        _login(service, "commission", "wrong guess", "10.9.0.2").status_code for _ in range(5)
    ]
    assert [e.target for e in _limit_entries(service)] == [
        "client:10.9.0.1", "client:10.9.0.1", "client:10.9.0.2",
    ]  # fmt: skip
    _verify(service)


def test_a_flood_on_one_account_is_audited_once_per_window(make_service, monkeypatch):
    service = make_service(
        rate_limits={"login_per_minute": 1000, "login_per_account": 3,
                     "login_account_window_minutes": 15},
    )  # fmt: skip
    clock = Clock()
    limiter = RateLimiter(
        limit=3, window_s=900, clock=clock, what="sign-in attempts for this username"
    )
    monkeypatch.setattr(service.services, "login_account_limiter", limiter)
    answers = [_login(service, " Inspector", "wrong guess", f"10.8.0.{i}") for i in range(30)]
    assert [a.status_code for a in answers[:3]] == [401] * 3
    assert {a.status_code for a in answers[3:]} == {429}
    assert _login(service, "inspector", PASSWORD, "10.8.1.1").status_code == 429
    entries = _limit_entries(service)
    assert [(e.actor, e.target) for e in entries] == [(" Inspector", "account:inspector")]
    assert entries[0].details["window_s"] == 900
    clock.now += 901
    assert _login(service, "inspector", PASSWORD, "10.8.1.1").status_code == 200  # free again
    for i in range(3):
        _login(service, "inspector", "wrong guess", f"10.8.2.{i}")
    assert _login(service, "inspector", "wrong guess", "10.8.3.1").status_code == 429
    entries = _limit_entries(service)
    assert len(entries) == 2 and entries[1].details["refused_in_previous_window"] == 28
    _verify(service)


def test_an_unreported_key_is_reported_again_at_its_next_refusal():
    limiter = RateLimiter(limit=1, window_s=60, clock=Clock())
    limiter.hit("a")
    assert _refusals(limiter, "a", 2) == [0, None]
    limiter.unreport("a")  # its notice could not be recorded
    assert _refusals(limiter, "a", 2) == [0, None]


def test_a_notice_the_database_refused_is_written_at_the_next_refusal(make_service, monkeypatch):
    from sqlalchemy.exc import OperationalError

    service = make_service()
    limiter = RateLimiter(limit=1, window_s=60, clock=Clock(), what="sign-in attempts")
    monkeypatch.setattr(service.services, "login_limiter", limiter)
    real_append, failures = audit.append, [1]

    def append(session, key, **kw):
        if kw.get("action") == "login_rate_limited" and failures:
            failures.pop()
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real_append(session, key, **kw)

    monkeypatch.setattr(audit, "append", append)
    statuses = [_login(service, "ghost", "wrong guess", "10.7.0.1").status_code for _ in range(4)]
    assert statuses == [401, 429, 429, 429]
    entries = _limit_entries(service)
    assert len(entries) == 1  # the second refusal's notice, after the first one failed
    _verify(service)
