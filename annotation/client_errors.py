"""Label Studio's failures put into words: the error kinds, and `api_errors`, which turns every
failure of a request into one of them.

An answer that is not what Label Studio sends (another service at the URL, a proxy's page,
another API version) is one error naming the server, never a traceback or endless paging
(annotation.paging guards every page of a list). An error page is quoted short: its title or
first words, not the whole HTML. A 401 is the token's; a 403, an account without access; a 404
for a project (its own address, or a list of its items cut short), the project gone once
Label Studio's list of projects, answering as Label Studio, no longer holds it (a proxy's JSON
404 for the project's own address proves nothing: then the address or the proxy is to be
checked, and a list cut short is incomplete; a project there when asked again at once, the
command run again). A URL is shown, logged and sent without a user name or password
(`without_userinfo`): the token signs in (annotation.settings refuses them).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from annotation.paging import ListingIncomplete, UnexpectedAnswer
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio


class LabelStudioError(ShanyraqError):
    """Label Studio answered with an error we cannot work around."""

    code = "label_studio_error"
    http_status = 502


class LabelStudioUnreachableError(LabelStudioError):
    code = "label_studio_unreachable"
    http_status = 503


class LabelStudioTimeoutError(LabelStudioUnreachableError):
    """The server took the request but did not answer it within server.timeout_s."""

    code = "label_studio_timeout"


class LabelStudioAuthError(LabelStudioError):
    code = "label_studio_auth"
    http_status = 502


class LabelStudioAnswerError(LabelStudioError):
    """The server answered, but not as Label Studio does: not Label Studio, or another version."""

    code = "label_studio_unexpected_answer"


_DETAIL_CHARS = 160  # of an error body quoted in a message
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# Where a 404 may be a proxy's: the address, and the proxy in front of Label Studio, to check.
_CHECK_ADDRESS_AND_PROXY = (
    "check that SHANYRAQ_LABEL_STUDIO_URL (or server.url in annotation.yaml) is the address of "
    "the Label Studio server and that any proxy in front of it forwards every /api/ path to it"
)
_NOT_LABEL_STUDIO_HINT = (
    "check that SHANYRAQ_LABEL_STUDIO_URL (or server.url in annotation.yaml) is the address of "
    "the Label Studio server itself, not of a proxy or another service"
)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def without_userinfo(url: str) -> str:
    """`url` as it may be shown or logged: without a user name or password before its host.
    Everything after the scheme up to the last '@' goes, so a password holding an unescaped '@',
    '/' or '#' is not shown in part either."""
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else 0
    at = url.rfind("@", start)
    return url if at < 0 else url[:start] + url[at + 1 :]


def _detail(body: object) -> str:
    """An error body, short and on one line: Label Studio's detail, or an HTML page's title
    (else its first words)."""
    if isinstance(body, dict):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        text = "; ".join(p for p in parts if p) or str(body)
    else:
        text = str(body)
        if "<" in text and ">" in text:  # an HTML page: its title says what it is
            title = _TITLE.search(text)
            text = html.unescape(title.group(1) if title else _TAG.sub(" ", text))
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "..."


def _looks_like_html(body: object) -> bool:
    return isinstance(body, str) and "<html" in body.lower()


def _from_sdk(exc: BaseException) -> bool:
    """Whether `exc` was raised reading an answer, not here: inside pydantic, or anywhere
    below an SDK call (its token refresh decodes the answer with `json` directly)."""
    import label_studio_sdk
    import pydantic

    sdk, models = (os.path.dirname(m.__file__ or "") for m in (label_studio_sdk, pydantic))
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(sdk) or (tb.tb_next is None and filename.startswith(models)):
            return True
        tb = tb.tb_next
    return False


# A request Label Studio took (connected) but did not answer in time: it is up, but slow.
SLOW_ANSWER = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)
_WAIT_KEY = {httpx.ReadTimeout: "read", httpx.WriteTimeout: "write", httpx.PoolTimeout: "pool"}


def waited(exc: httpx.TimeoutException) -> str:
    """How long a request that timed out waited, in words ("30 s"): its timeout, as httpx
    sent it (server.timeout_s)."""
    try:
        limits = exc.request.extensions.get("timeout") or {}
    except RuntimeError:  # an error raised without its request
        limits = {}
    limit = limits.get(_WAIT_KEY.get(type(exc), "read"))
    return f"{limit:g} s" if isinstance(limit, int | float) else "the time allowed"


# The URL of the last request answered 404 (`_note_404`, a response hook): was it for a project?
_LAST_404: ContextVar[httpx.URL | None] = ContextVar("shanyraq_label_studio_404", default=None)
_PROJECT_PATH = re.compile(r"/api/projects/(\d+)(/|$)")


def _note_404(response: httpx.Response) -> None:  # an httpx response hook
    if response.status_code == 404:
        _LAST_404.set(response.request.url)


def _project_asked(url: httpx.URL | None) -> str | None:
    """The id of the project a request was for: in its path, or its `project` parameter."""
    if url is None:
        return None
    found = _PROJECT_PATH.search(url.path)
    project = found.group(1) if found else url.params.get("project", "")
    return project if project.isdecimal() else None


_NOT_AUTHENTICATED = re.compile(r"credential|token|authenticat", re.IGNORECASE)


def _refused(url: str, action: str, status: int, body: object) -> LabelStudioAuthError:
    """A 401 (or a 403 saying it was not signed in) is the token's; a 403, the account's."""
    detail = _detail(body)
    if status == 401 or _NOT_AUTHENTICATED.search(detail):
        return LabelStudioAuthError(
            f"Label Studio at {url} refused the token while {action} ({status}: {detail}); set "
            "SHANYRAQ_LABEL_STUDIO_TOKEN to a valid personal access token (or a legacy token, "
            "if the organisation allows them)"
        )
    return LabelStudioAuthError(
        f"Label Studio at {url} refused {action} (403: {detail}): the token was accepted, but "
        "its account has no permission for this (no access to the project, or not a member of "
        "the organisation it belongs to); ask a Label Studio administrator to give the account "
        "access, or set SHANYRAQ_LABEL_STUDIO_TOKEN to the token of an account that has it"
    )


def _unexpected(url: str, action: str, what: str) -> LabelStudioAnswerError:
    return LabelStudioAnswerError(
        f"Label Studio at {url} gave an answer Shanyraq cannot read while {action}: {what}; "
        f"{_NOT_LABEL_STUDIO_HINT} (nothing already written was lost; run the command again "
        "once it is fixed)"
    )


def _no_project(url: str, project: str, how: str, *, gone: str = "") -> LabelStudioError:
    """The project is not there: `how` it was found out, `gone` what is known of why."""
    return LabelStudioError(
        f"Label Studio at {url} has no project {project} ({how}): {gone}`shanyraq annotate "
        "init` makes the project again, then run the command again"
    )


@dataclass(frozen=True)
class _ProjectCheck:
    """What asking whether a project is still there showed: `gone`, with Label Studio's
    detail; `unclear`, with what answered instead of Label Studio; neither: it is there."""

    gone: str | None = None
    unclear: str | None = None


def _failure(exc: BaseException) -> str:
    """A failed request of the check, short: its status and detail, or the error's kind."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return f"{status} ({_detail(getattr(exc, 'body', ''))})"
    return f"{type(exc).__name__} ({_detail(str(exc))})"


def _project_check(sdk: LabelStudio, project: str) -> _ProjectCheck:
    """Whether `project` is gone, each request sent once without the SDK's retries (an error is
    already on its way). Its own address answering 404 is not enough: a proxy in front of Label
    Studio (a route gone, a wrong base path) answers JSON 404 just as Label Studio does. It is
    gone only when Label Studio's list of projects, filtered to it, then answers as Label Studio
    (annotation.paging checks the page) and holds nothing."""
    from label_studio_sdk.core.api_error import ApiError
    from label_studio_sdk.core.parse_error import ParsingError

    # Every way a request can fail or its answer not read as Label Studio's (its shape too).
    failures = (
        ApiError, ParsingError, httpx.HTTPError, UnexpectedAnswer, ValueError, TypeError,
        AttributeError,
    )  # fmt: skip
    once: Any = {"max_retries": 0}
    try:
        sdk.projects.get(int(project), request_options=once)
        return _ProjectCheck()
    except failures as exc:
        if not (
            isinstance(exc, ApiError) and exc.status_code == 404 and isinstance(exc.body, dict)
        ):
            return _ProjectCheck(unclear=f"its address answered {_failure(exc)}")
        not_found = _detail(exc.body)
    try:
        listed: Any = sdk.projects.list(ids=project, page_size=1, request_options=once)
        holds = listed.response.count, len(listed.items or ())
    except failures as exc:
        return _ProjectCheck(
            unclear=f"its address answered 404 ({not_found}) and the list of projects "
            f"answered {_failure(exc)}"
        )
    if holds == (0, 0):
        return _ProjectCheck(gone=not_found)
    return _ProjectCheck(
        unclear=f"its address answered 404 ({not_found}) while the list of projects still "
        "holds it (or does not filter by id)"
    )


def _not_as_expected(
    url: str, action: str, fact: str, project: str, unclear: str, lead: str = ""
) -> LabelStudioAnswerError:
    """A 404 that may be a proxy's: `fact`, what was seen; `unclear`, what asking whether the
    project is still there (`_project_check`) showed instead of Label Studio's answer."""
    return LabelStudioAnswerError(
        f"{lead}Label Studio did not answer as expected at {url} while {action}: {fact}, and "
        f"asked once whether project {project} is still there, {unclear}, which is not how "
        f"Label Studio answers for a deleted project; {_CHECK_ADDRESS_AND_PROXY}, then run "
        "the command again"
    )


def _there_after_all(url: str, action: str, project: str, detail: str) -> LabelStudioAnswerError:
    """A JSON 404 for a project that, asked again at once (`_project_check`), is there: not Label
    Studio's word that it is gone, but a proxy that lost its route for a moment, or an address
    of the project this Label Studio does not serve (another version)."""
    return LabelStudioAnswerError(
        f"Label Studio at {url} answered 404 ({detail}) for project {project} while {action}, "
        f"yet asked again at once, project {project} is there: the 404 came from something in "
        "between (a proxy that lost its route for a moment) or from an address of the project "
        "this Label Studio does not serve; run the command again (nothing already written was "
        f"lost), and if it answers 404 again {_CHECK_ADDRESS_AND_PROXY}"
    )


@contextmanager
def api_errors(action: str, *, url: str, sdk: LabelStudio | None = None) -> Iterator[None]:
    """Translate transport and API failures while doing `action` into LabelStudioError.
    With `sdk`, a JSON 404 for a project (its own address, or a list of its items cut short)
    asks it whether the project is still there (`_project_check`); without, such a 404 names
    the address to check, never the project gone."""
    from label_studio_sdk.core.api_error import ApiError
    from label_studio_sdk.core.parse_error import ParsingError

    url = without_userinfo(url)
    _LAST_404.set(None)
    try:
        yield
    except ListingIncomplete as exc:  # a list that changed or ended early: Label Studio's own
        project = _project_asked(_LAST_404.get())
        check = _project_check(sdk, project) if sdk is not None and project is not None else None
        if project is not None and check is not None and check.gone is not None:
            raise _no_project(
                url,
                project,
                f"it was deleted while {action}: the list ended early, the project now answers "
                f"404 ({check.gone}) and Label Studio's list of projects no longer holds it",
            ) from None
        if project is not None and check is not None and check.unclear is not None:
            lead = "incomplete: "
            raise _not_as_expected(url, action, exc.fact, project, check.unclear, lead) from None
        raise LabelStudioError(f"Label Studio at {url}, while {action}: {exc}") from None
    except UnexpectedAnswer as exc:  # a page of a list (annotation.paging)
        raise _unexpected(url, action, str(exc)) from None
    except ParsingError as exc:
        raise _unexpected(url, action, f"its shape is not the one expected ({exc})") from None
    except SLOW_ANSWER as exc:  # reached, so "is it running?" would mislead
        raise LabelStudioTimeoutError(
            f"Label Studio at {url} did not answer within {waited(exc)} while {action} "
            f"({type(exc).__name__}): the server is up but slow, or the request is large; run "
            "the command again, and if it times out again raise server.timeout_s in "
            "configs/annotation.yaml (nothing was lost: it only sends what is not there yet)"
        ) from None
    # TransportError: refused or dropped connections, connect timeouts, read/write and protocol
    # errors, a proxy failing, a URL scheme httpx cannot speak: all "cannot reach", never a
    # traceback.
    except httpx.TransportError as exc:
        raise LabelStudioUnreachableError(
            f"cannot reach Label Studio at {url} while {action} ({type(exc).__name__}); "
            "check that the server is running and SHANYRAQ_LABEL_STUDIO_URL is right, then "
            "run the command again (nothing was lost: it only sends what is not there yet)"
        ) from None
    except (httpx.TooManyRedirects, httpx.DecodingError) as exc:  # no TransportError either
        raise _unexpected(url, action, f"{type(exc).__name__}: {exc}") from None
    except httpx.InvalidURL as exc:  # a URL that reached us unchecked (settings check theirs)
        raise LabelStudioUnreachableError(
            f"cannot reach Label Studio at {url!r} while {action}: not a valid URL ({exc}); "
            "set SHANYRAQ_LABEL_STUDIO_URL (or server.url in annotation.yaml) to the server's "
            "address"
        ) from None
    except ApiError as exc:
        status = exc.status_code or 0
        if 200 <= status < 300:  # the SDK's word for a success that is not JSON
            raise _unexpected(url, action, f"not JSON ({_detail(exc.body)})") from None
        if status in (401, 403) and not _looks_like_html(exc.body):
            raise _refused(url, action, status, exc.body) from None
        project = _project_asked(_LAST_404.get()) if status == 404 else None
        if project is not None and isinstance(exc.body, dict) and sdk is not None:
            check = _project_check(sdk, project)  # a JSON 404 reads as Label Studio's, or not
            if check.gone is not None:
                raise _no_project(
                    url,
                    project,
                    f"404 while {action}: {check.gone}; Label Studio's list of projects no "
                    "longer holds it",
                    gone="it was deleted, perhaps while this command ran; ",
                ) from None
            if check.unclear is not None:
                fact = f"a request for project {project} answered 404 ({_detail(exc.body)})"
                raise _not_as_expected(url, action, fact, project, check.unclear) from None
            raise _there_after_all(url, action, project, _detail(exc.body)) from None
        hint = f"; {_NOT_LABEL_STUDIO_HINT}" if status == 404 or _looks_like_html(exc.body) else ""
        if status >= 500:  # the SDK has already retried it
            hint += (
                "; Label Studio failed on its side: run the command again once it is back "
                "(nothing already written was lost)"
            )
        raise LabelStudioError(
            f"Label Studio at {url} answered {status} while {action}: {_detail(exc.body)}{hint}"
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        if not _from_sdk(exc):
            raise
        raise _unexpected(url, action, f"the SDK could not read it ({exc})") from None
