"""JSON request bodies with each key once: a key given twice is a 422, not a dropped value.

json.loads keeps the last value of a key given twice and drops the other without a word, so
`{"criteria": {"per_capita_income_kzt": 20000, "per_capita_income_kzt": null}}` would store a
family with its income missing. Every API router uses `StrictJSONRoute`, whose requests read
their JSON with `shanyraq.json_values.pairs_once`; the refusal is FastAPI's own invalid-JSON
answer (`request_invalid`), naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from shanyraq.json_values import KeyGivenTwiceError, pairs_once


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, object_pairs_hook=pairs_once)
            except KeyGivenTwiceError as exc:
                # FastAPI answers a JSONDecodeError as invalid JSON (422), with this message.
                raise json.JSONDecodeError(
                    f"{exc}; send each key once", body.decode("utf-8", "replace"), 0
                ) from None
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict
