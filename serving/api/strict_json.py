"""JSON request bodies read strictly: a key given twice, a body that is not UTF-8, nesting too
deep to read or a number with too many digits is a 422 naming the problem, never a value
dropped nor FastAPI's wordless 400.

json.loads keeps the last value of a key given twice and drops the other without a word, so
`{"criteria": {"per_capita_income_kzt": 20000, "per_capita_income_kzt": null}}` would store a
family with its income missing. Every API router uses `StrictJSONRoute`, whose requests read
their JSON with `shanyraq.json_values.pairs_once`; the refusal is FastAPI's own invalid-JSON
answer (`request_invalid`), naming the key. Bytes that do not decode, nesting past Python's
recursion limit and integers past its digit limit raise other errors, which FastAPI answers
as 400 "There was an error parsing the body"; they are turned into the same invalid-JSON
answer, saying what to send instead. The body is decoded as UTF-8 here, strictly: json.loads
would take bytes in UTF-16 or UTF-32 too, and UTF-8-encoded surrogates; a UTF-8 byte order
mark is skipped, as RFC 8259 lets a reader do. NaN, Infinity and 1e400 (infinite) are read as
numbers here and refused where a value must be finite (the family record's criteria).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from shanyraq.json_values import KeyGivenTwiceError, pairs_once


def loads_strict(body: bytes) -> Any:
    """`body` read as JSON with each key once; every way it cannot be read is a
    JSONDecodeError (which FastAPI answers as invalid JSON, 422) whose message says why."""
    try:
        return json.loads(_utf8_text(body), object_pairs_hook=pairs_once)
    except json.JSONDecodeError:
        raise
    except KeyGivenTwiceError as exc:
        why, at = f"{exc}; send each key once", 0
    except UnicodeDecodeError as exc:
        why = f"the body is not UTF-8 text ({exc.reason} at byte {exc.start}); send it as UTF-8"
        at = exc.start
    except RecursionError:
        why, at = "the body nests arrays or objects too deeply to read; send a flatter body", 0
    except ValueError:  # an integer past Python's digit limit (sys.get_int_max_str_digits)
        why, at = "a number in the body has too many digits; send numbers of ordinary size", 0
    raise json.JSONDecodeError(why, body.decode("utf-8", "replace"), at) from None


def _utf8_text(body: bytes) -> str:
    """`body` decoded as UTF-8 after any byte order mark: a UnicodeDecodeError (its position a
    byte of `body`) where it is not UTF-8, a JSONDecodeError where it holds a NUL byte. No JSON
    text has one, and text in UTF-16 or UTF-32 has many (its ASCII decodes as UTF-8 too)."""
    start = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    try:
        text = body[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnicodeDecodeError(
            "utf-8", body, exc.start + start, exc.end + start, exc.reason
        ) from None
    nul = body.find(b"\x00", start)
    if nul >= 0:
        why = (
            f"the body holds a NUL byte (byte {nul}): no JSON text has one, but UTF-16 and "
            "UTF-32 text does; send the body as UTF-8"
        )
        raise json.JSONDecodeError(why, text, len(body[start:nul].decode("utf-8")))
    return text


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_strict(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict
