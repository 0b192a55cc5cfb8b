"""Review 31: one log line for one failed page or request.

1. A heat map refused because model.pt changed since start was logged twice: a WARNING by
   serving.web.heatmaps (naming the file) and an ERROR by the page's error handler (the
   reader's words). Only the first stays, as an ERROR: it names the file that changed, and only
   the administrator's restart ends the refusal.
2. An unexpected exception (a 500) was logged by the service (the API: a traceback; a page: one
   line without it) and then again by uvicorn ("Exception in ASGI application", a traceback
   without the request), since Starlette raises it on to the server after the 500 is answered.
   Now its traceback is logged once, with the request's method and path, and the client still
   gets its 500 answer.
"""

from __future__ import annotations

import logging
import re
import signal
from pathlib import Path

import httpx
import pytest

from tests.serving.helpers import PASSWORD
from tests.serving.subprocess_runs import ended, start_serve
from tests.web.heatmap_model_helpers import (
    SIGNS,
    commission_browser,
    copy_model_over,
    uploaded_photo_id,
)
from tests.web.helpers import sign_in
from vision.artifact import TORCH_FILE

# --- 1. a heat map refused for a model.pt changed since start -------------------------------


def test_a_heat_map_refused_for_a_changed_model_is_one_error_line(
    heatmap_service,
    heatmap_model_dir,
    heatmap_models,
    caplog,
):
    photo_id = uploaded_photo_id(heatmap_service)
    browser = commission_browser(heatmap_service)
    copy_model_over(heatmap_models[1], heatmap_model_dir)
    with caplog.at_level(logging.INFO):
        got = browser.get(f"/ui/photos/{photo_id}/heatmap/{SIGNS[0]}")
    assert got.status_code == 503, got.text[:300]
    assert got.headers["content-type"].startswith("text/html")
    said = [(r.name, r.levelname) for r in caplog.records if r.levelno >= logging.WARNING]
    # Was: [("serving.web.heatmaps", "WARNING"), ("serving.web.errors", "ERROR")].
    assert said == [("serving.web.heatmaps", "ERROR")], caplog.text
    line = next(r.getMessage() for r in caplog.records if r.name == "serving.web.heatmaps")
    assert str(heatmap_model_dir / TORCH_FILE) in line  # which file changed: the log only says it
    assert "restart the service" in line
    assert str(heatmap_model_dir) not in got.text  # the server's folders stay off the page


# --- 2. an unexpected exception, in `shanyraq serve` ------------------------------------------

SECRET_KEY = "k" + "x" * 31
# time (UTC), level, logger name, message: serving.logs.LINE_FORMAT
LINE = re.compile(r"^\S+ (?P<level>[A-Z]+) (?P<name>[\w.]+): (?P<message>.*)$")
CAUSE = "sqlalchemy.exc.DatabaseError: (sqlite3.DatabaseError) file is not a database"


def _with_a_user(database_url: str) -> None:
    from serving.db.session import make_engine, make_session_factory, session_scope
    from serving.migrations import upgrade
    from serving.users import create_user

    upgrade(database_url)
    engine = make_engine(database_url)
    with session_scope(make_session_factory(engine)) as session:
        create_user(
            session, username="commission", password=PASSWORD, role="commission",
            region="shymkent",
        )  # fmt: skip
    engine.dispose()


@pytest.mark.slow  # `serve` starts in a process of its own
def test_an_unexpected_error_is_logged_once_with_its_request_and_still_answered_500(
    tmp_path: Path,
):
    database = tmp_path / "service.db"
    database_url = f"sqlite:///{database}"
    _with_a_user(database_url)
    process, port = start_serve(
        tmp_path, database_url=database_url, secret_key=SECRET_KEY, shutdown_requests_s=1
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as browser:
            assert sign_in(browser, "commission", PASSWORD).status_code == 303
            # The database file damaged under the running service: its next reads fail.
            for path in tmp_path.glob("service.db*"):
                path.write_bytes(b"not a database" * 1000)
            page = browser.get("/ui/families")
        # On a connection of its own: uvicorn closes the one an exception reached it on.
        api = httpx.post(f"{url}/auth/token", data={"username": "a", "password": "b"}, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = ended(process, bound_s=30, what="serve, sent SIGTERM,")
    assert page.status_code == 500 and "text/html" in page.headers["content-type"], page.text
    assert api.status_code == 500, api.text
    assert api.json()["code"] == "internal_error"

    lines = [m for m in map(LINE.match, stderr.splitlines()) if m and m["level"] == "ERROR"]
    # Was also uvicorn.error's "Exception in ASGI application" after each, with a traceback
    # again; and the page's line had no traceback of its own.
    assert [(m["name"], m["message"]) for m in lines] == [
        ("serving.api.errors", "GET /ui/families failed: unexpected error"),
        ("serving.api.errors", "POST /auth/token failed: unexpected error"),
    ], stderr
    assert "Exception in ASGI application" not in stderr
    assert stderr.count(CAUSE) == 2, stderr  # each traceback once
    assert '"GET /ui/families HTTP/1.1" 500' in stderr  # the access log has the answers
    assert '"POST /auth/token HTTP/1.1" 500' in stderr
