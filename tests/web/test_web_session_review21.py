"""Review 21 of the pages' sessions and error pages (serving.web.deps, session_clock, errors).

- An error page answering a failure of the database (an outage, a locked SQLite file) failed
  itself: finding out who is signed in, for the page's menu, read the same database again,
  and its error escaped the error handler, so the reader got the server's bare text instead
  of the page.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from tests.serving.helpers import PASSWORD
from tests.web.helpers import sign_in


@contextmanager
def _database_down(*_args: Any, **_kwargs: Any) -> Any:
    raise OperationalError("SELECT 1", {}, Exception("the database is not reachable (test)"))
    yield  # pragma: no cover - a generator for contextmanager


def test_a_page_failing_for_want_of_the_database_gets_the_error_page(web, monkeypatch):
    from serving.api import deps

    client = TestClient(web.app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    assert sign_in(client, "commission", PASSWORD).status_code == 303
    monkeypatch.setattr(deps, "session_scope", _database_down)  # every sign-in check's read

    page = client.get("/ui/families")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html"), page.text
    assert "<h1>Something went wrong</h1>" in page.text
    assert "not reachable" not in page.text  # the failure stays in the log
