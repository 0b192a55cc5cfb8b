"""tests/library_once_helpers.py keeps FastAPI's typed signature of a callable for the process:
the same signature FastAPI reads, read once, and the routes of a second app still bound as
declared."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.dependencies import utils
from fastapi.testclient import TestClient


def _limit(limit: Annotated[int, Query(ge=1)] = 5) -> int:
    return limit


def _endpoint(limit: Annotated[int, Depends(_limit)], name: str = "x") -> dict[str, object]:
    return {"limit": limit, "name": name}


def test_the_signature_is_fastapis_own_read_once():
    real = utils.get_typed_signature.__wrapped__  # type: ignore[attr-defined]
    first = utils.get_typed_signature(_endpoint)
    assert first == real(_endpoint)
    assert utils.get_typed_signature(_endpoint) is first


def test_a_second_app_binds_the_same_parameters():
    for _ in range(2):
        app = FastAPI()
        app.add_api_route("/e", _endpoint)
        client = TestClient(app)
        assert client.get("/e", params={"limit": 3, "name": "y"}).json() == {
            "limit": 3,
            "name": "y",
        }
        assert client.get("/e", params={"limit": 0}).status_code == 422
