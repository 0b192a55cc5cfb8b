"""tests/library_once_helpers.py keeps FastAPI's TypeAdapter of a field for the process: an
equal field gets the same adapter, a field that differs in any part gets its own, and the
routes of each app still validate as declared."""

# No `from __future__ import annotations`: the endpoints below are local, and FastAPI reads
# their annotations as objects.

from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi._compat import v2
from fastapi.testclient import TestClient
from pydantic import BaseModel

from tests.library_once_helpers import value_key


def _adapter(field_info: Any) -> Any:
    return v2.ModelField(field_info=field_info, name="limit")._type_adapter


def test_an_equal_field_gets_the_same_adapter_and_another_its_own():
    first = _adapter(Query(ge=1, description="how many"))
    assert _adapter(Query(ge=1, description="how many")) is first
    assert _adapter(Query(ge=2, description="how many")) is not first
    assert _adapter(Query(ge=1, description="how many at most")) is not first


def test_the_routes_of_each_app_validate_as_declared():
    for low in (1, 5, 1):
        app = FastAPI()

        def endpoint(limit: Annotated[int, Query(ge=low)] = 7) -> dict[str, int]:
            return {"limit": limit}

        app.add_api_route("/e", endpoint)
        client = TestClient(app)
        assert client.get("/e", params={"limit": low}).json() == {"limit": low}
        assert client.get("/e", params={"limit": low - 1}).status_code == 422
        assert client.get("/e").json() == {"limit": 7}


def test_a_body_model_of_another_class_gets_its_own_adapter():
    class A(BaseModel):
        x: int

    class B(BaseModel):  # the same fields, another class
        x: str

    app = FastAPI()

    @app.post("/a")
    def post_a(body: A) -> dict[str, Any]:
        return {"x": body.x}

    @app.post("/b")
    def post_b(body: B) -> dict[str, Any]:
        return {"x": body.x}

    client = TestClient(app)
    assert client.post("/a", json={"x": "3"}).json() == {"x": 3}
    assert client.post("/b", json={"x": "3"}).json() == {"x": "3"}


def test_value_keys_tell_types_and_shapes_apart():
    assert value_key(1) != value_key(True)
    assert value_key(1) != value_key(1.0)
    assert value_key([1, 2]) != value_key((1, 2))
    assert value_key({"a": [1]}) == value_key({"a": [1]})
    assert value_key({"a": [1]}) != value_key({"a": [2]})
    assert value_key(int) != value_key(str)


def test_a_value_with_an_unkeyable_part_has_no_key():
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

    assert value_key(Unhashable()) is None
    assert value_key({"default": [Unhashable()]}) is None
