"""The one place errors become HTTP answers: JSON `{code, message, ...}` with a stable code.

Beside the code, a refused decision names its `refusal` (the pages word each one as
`decision_error.<refusal>`), and a refusal by role names the `roles` the route admits.
"""

from __future__ import annotations

import contextlib
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_PREFIX
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.decisions import DECISION_REFUSAL_ERRORS, DECISION_REFUSALS
from serving.errors import RateLimitedError, RoleRefusedError, UnavailableError
from serving.pipeline_refusals import LoggedUnavailableError, PassingUnavailableError
from shanyraq.errors import ShanyraqError

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """One item of an error's `details`. For `request_invalid` (422) each names one refused
    part of the request: `where` it is and what the `problem` is; other fields may follow."""

    model_config = ConfigDict(extra="allow")

    where: str | None = Field(
        None,
        description="Where in the request: its parts joined by dots, the first one `body`, "
        "`query`, `path`, `header` or `cookie`.",
        examples=["query.limit"],
    )
    problem: str | None = Field(
        None,
        description="What is wrong there, in words.",
        examples=["Input should be less than or equal to 200"],
    )


class ErrorBody(BaseModel):
    """Every error answer: a stable `code` to match on and a `message` for people; some
    refusals say more, each in a field of its own that other answers leave out."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no family with that id in your region"])
    details: list[ErrorDetail] | None = Field(
        None,
        description="On `request_invalid` (422): one item for each refused part of the "
        "request, saying `where` it is and what the `problem` is there.",
    )
    refusal: str | None = Field(
        None,
        description="Why a decision was refused (`decision_invalid` 422, `conflict` 409), "
        f"one of: {', '.join(DECISION_REFUSALS)}. The web pages word each the same way.",
        examples=["reason_too_short"],
    )
    roles: list[str] | None = Field(
        None,
        description="On a refusal by role (403 `forbidden`): the roles this route admits "
        "(its `x-policy`).",
        examples=[["commission"]],
    )


def error_response(
    status: int, code: str, message: str, *, details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None, refusal: str | None = None,
    roles: list[str] | None = None,
) -> JSONResponse:  # fmt: skip
    body = ErrorBody(
        code=code, message=message, details=details, refusal=refusal, roles=roles
    ).model_dump(exclude_none=True)
    return JSONResponse(status_code=status, content=body, headers=headers)


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "http_error"


def server_error_level(exc: Exception) -> int | None:
    """The level a 5xx answer to `exc` is logged at, by the API and the pages alike (None: not
    at all). A busy model or a planned stop passes by itself (PassingUnavailableError): a
    warning, not an error an operator must chase. A 503 logged where it was found, with more
    than the answer says (LoggedUnavailableError: the pipeline's, a heat map's refused model),
    is not logged again: one line for one event. Every other 5xx is an error."""
    if isinstance(exc, LoggedUnavailableError):
        return None
    if isinstance(exc, PassingUnavailableError):
        return logging.WARNING
    return logging.ERROR


async def _domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShanyraqError)
    headers = None
    retry_after = (
        exc.retry_after_s if isinstance(exc, RateLimitedError | UnavailableError) else None
    )
    if retry_after is not None:  # when to send it again (a busy model's 503, a 429)
        headers = {"Retry-After": str(retry_after)}
    if exc.http_status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    level = server_error_level(exc) if exc.http_status >= 500 else None
    if level is not None:
        logger.log(level, "%s: %s", exc.code, exc.message)
    refusal = exc.refusal if isinstance(exc, DECISION_REFUSAL_ERRORS) else None
    roles = exc.roles if isinstance(exc, RoleRefusedError) else None
    return error_response(
        exc.http_status, exc.code, exc.message, headers=headers, refusal=refusal, roles=roles
    )


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": _problem(e)}
        for e in exc.errors()
    ]
    message = "; ".join(f"{d['where']}: {d['problem']}" for d in details[:5])
    return error_response(
        422, "request_invalid", message or "invalid request", details=jsonable_encoder(details)
    )


def _problem(error: dict[str, Any]) -> str:
    """A validation error's words; for a body that is not JSON, what the parser said (where,
    or a key given twice: serving/api/strict_json.py), not just 'JSON decode error'."""
    msg = str(error.get("msg", ""))
    said = (error.get("ctx") or {}).get("error")
    return f"{msg}: {said}" if error.get("type") == "json_invalid" and said else msg


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(
        exc.status_code,
        _status_code_name(exc.status_code),
        str(exc.detail),
        headers=getattr(exc, "headers", None),
    )


# Set on an unexpected exception once `log_unexpected` has logged it.
_LOGGED_MARK = "_shanyraq_logged"

# The logger the server (uvicorn) logs an exception the app raised to it with.
SERVER_LOGGER = "uvicorn.error"


def log_unexpected(request: Request, exc: Exception) -> None:
    """Log an unexpected exception (a 500) once: its traceback with the request's method and
    path, here. Starlette's ServerErrorMiddleware raises it on to the server after the 500 is
    answered, and the server would log the same traceback again, without the request
    (`LoggedOnce` leaves that line out; the server still answers as it would)."""
    logger.error("%s %s failed: unexpected error", request.method, request.url.path, exc_info=exc)
    with contextlib.suppress(AttributeError):  # one that takes none: the server logs it too
        setattr(exc, _LOGGED_MARK, True)


class LoggedOnce(logging.Filter):
    """A filter of SERVER_LOGGER: leaves out its record of an exception `log_unexpected` has
    logged already; its other records pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, _LOGGED_MARK, False)


_LOGGED_ONCE = LoggedOnce()


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log_unexpected(request, exc)
    return error_response(
        500, "internal_error", "something went wrong on the server; it was logged, try again"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ShanyraqError, _domain)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    logging.getLogger(SERVER_LOGGER).addFilter(_LOGGED_ONCE)  # once, if called again
    _document_invalid_requests(app)


# What FastAPI documents a route with parameters or a body as answering 422 with
# (`{detail: [...]}`); `_invalid_request` answers those with an ErrorBody instead.
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _document_invalid_requests(app: FastAPI) -> None:
    """Make the app's OpenAPI say what `_invalid_request` answers: each 422 FastAPI adds on
    its own is an ErrorBody (`request_invalid`), and its `{detail: [...]}` schemas are gone;
    and its examples what the API answers, nulls included (`with_example_nulls`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        from serving.api.schemas import with_example_nulls

        if app.openapi_schema is None:
            app.openapi_schema = with_example_nulls(_invalid_requests_as_answered(build()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _invalid_requests_as_answered(spec: dict[str, Any]) -> dict[str, Any]:
    fastapi_422 = {"$ref": REF_PREFIX + _FASTAPI_422_SCHEMAS[0]}
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            said = responses.get("422", {}).get("content", {}).get("application/json", {})
            if said.get("schema") == fastapi_422:
                responses["422"] = {
                    "description": HTTPStatus(422).phrase,
                    "content": {"application/json": {"schema": {"$ref": REF_PREFIX + "ErrorBody"}}},
                }
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    if "ErrorBody" not in schemas:  # no route declared an error answer of its own
        schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template=REF_PREFIX + "{model}")
    return spec


# The Retry-After header `_domain` sends, as the OpenAPI declares it: on every 429, and on a
# 503 whose cause passes (a busy or restarting model: serving.pipeline), not on one that
# waits for an administrator's deploy (a missing model artifact).
_RETRY_AFTER: dict[int, dict[str, Any]] = {
    429: {"description": "Seconds to wait before trying again.", "required": True},
    503: {"description": "Seconds to wait before sending the request again, where the "
          "cause passes by itself (a busy, hung or restarting photo model)."},
}  # fmt: skip


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route can answer with."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": ErrorBody, "description": HTTPStatus(status).phrase}
        if status in _RETRY_AFTER:
            header = {**_RETRY_AFTER[status], "schema": {"type": "integer", "minimum": 0}}
            responses[status]["headers"] = {"Retry-After": header}
    return responses
