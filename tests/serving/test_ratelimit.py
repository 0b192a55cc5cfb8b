"""The sliding-window rate limiter, on a fake clock; login limited per address and per account."""

from __future__ import annotations

import re

import pytest

from serving.errors import RateLimitedError
from serving.ratelimit import RateLimiter


def test_limit_per_key_and_window():
    now = [0.0]
    limiter = RateLimiter(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("a")
    with pytest.raises(RateLimitedError) as caught:
        limiter.hit("a")
    assert caught.value.retry_after_s == 60
    limiter.hit("b")  # another key has its own budget
    now[0] = 60.5
    limiter.hit("a")  # the window slid past the first hits


def _login(service, username, password, address):
    from fastapi.testclient import TestClient

    client = TestClient(service.app, base_url="http://127.0.0.1", client=(address, 50000))
    return client.post("/auth/token", data={"username": username, "password": password})


def _without_numbers(message):
    return re.sub(r"\d+", "N", message)


def test_login_limited_per_account_across_addresses(make_service):
    from tests.serving.helpers import PASSWORD

    service = make_service(
        rate_limits={"login_per_minute": 100, "login_per_account": 3,
                     "login_account_window_minutes": 15},
    )  # fmt: skip
    for i in range(3):  # one address each: the address limit never applies
        assert _login(service, "inspector", "wrong guess", f"10.0.0.{i}").status_code == 401
    limited = _login(service, " Inspector", PASSWORD, "10.0.0.9")  # the right password, too late
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert _login(service, "commission", PASSWORD, "10.0.0.9").status_code == 200  # other account

    for i in range(3):  # a username no account has is limited exactly alike
        assert _login(service, "ghost", "wrong guess", f"10.0.1.{i}").status_code == 401
    ghost = _login(service, "ghost", "wrong guess", "10.0.1.9")
    assert ghost.status_code == 429 and "Retry-After" in ghost.headers
    assert _without_numbers(ghost.json()["message"]) == _without_numbers(limited.json()["message"])


def test_only_failed_sign_ins_count_against_an_account(make_service):
    from tests.serving.helpers import PASSWORD

    service = make_service(
        rate_limits={"login_per_minute": 100, "login_per_account": 3,
                     "login_account_window_minutes": 15},
    )  # fmt: skip
    for i in range(6):  # signing in often is not an attack
        assert _login(service, "commission", PASSWORD, f"10.0.2.{i}").status_code == 200
    for i in range(2):
        assert _login(service, "commission", "wrong guess", f"10.0.3.{i}").status_code == 401
    assert _login(service, "commission", PASSWORD, "10.0.3.9").status_code == 200  # 2 of 3 used
    assert _login(service, "commission", "wrong guess", "10.0.4.1").status_code == 401
    assert _login(service, "commission", PASSWORD, "10.0.4.2").status_code == 429


def test_check_refuses_without_counting_and_record_counts():
    clock = [0.0]
    limiter = RateLimiter(limit=2, window_s=10, clock=lambda: clock[0])
    for _ in range(5):
        limiter.check("a")  # never counted
    limiter.record("a")
    limiter.record("a")
    with pytest.raises(RateLimitedError):
        limiter.check("a")
    clock[0] = 10.5
    limiter.check("a")  # the window has passed
