"""Fixtures of the OpenAPI tests: a service started once per module and the schema it serves;
the HTTP methods a path item may hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.helpers import Service, started

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp: Path = tmp_path_factory.mktemp("openapi_422")
    with started(tmp) as service:
        yield service


@pytest.fixture(scope="module")
def openapi(api: Service) -> dict[str, Any]:
    """As /openapi.json serves it."""
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())
