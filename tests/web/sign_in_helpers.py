"""Helpers of the sign-in tests: a fresh browser, a sign-in through the API, the signed-in
reader's menu, and how many sign-in checks a request made."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.serving.helpers import PASSWORD, Service

SIGNED_IN_MENU = 'action="/ui/logout"'  # the signed-in reader's menu: its sign-out form


def sign_in_checks_made(service: Service, request: Any) -> tuple[Any, int]:
    """`request()`'s answer and how many sign-in checks it made: the reads of the revoked
    sessions table, one per check (serving.api.deps), on the database the checks read."""
    engine = service.services.readers.kw["bind"]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = request()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return answer, sum("FROM revoked_tokens" in s for s in statements)


def fresh_client(web: Any) -> Any:
    return TestClient(web.app, base_url="http://127.0.0.1")


def api_login(web: Any, username: str, password: str = PASSWORD) -> Any:
    return web.client.post("/auth/token", data={"username": username, "password": password})
