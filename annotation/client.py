"""The Label Studio connection: one SDK client, and every failure turned into a clear error.

label-studio-sdk 2.x tells the two token kinds apart by their form: a personal access token
is a JWT refresh token, which the SDK exchanges for short-lived access tokens (refreshing them
as they expire by its own clock); anything else is sent as a legacy `Token` header. Both work
here unchanged. An access token refused all the same (it expired on the way, or the server's
clock runs ahead) is renewed and the request sent once more (`RenewRefusedAccess`), so a long
push or pull does not stop with what reads as a wrong token.

An answer that is not what Label Studio sends (another service at the URL, a proxy's page,
another API version) is one error naming the server, never a traceback or endless paging
(annotation.paging guards every page of a list). An error page is quoted short: its title or
first words, not the whole HTML. A 401 is the token's; a 403, an account without access; a 404
for a project, the project gone. A URL is shown, logged and sent without a user name or
password (`without_userinfo`): the token signs in (annotation.settings refuses them).
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

from annotation.paging import ListingIncomplete, PageGuard, UnexpectedAnswer
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

logger = logging.getLogger(__name__)

TokenKind = Literal["personal_access_token", "legacy"]


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


def token_kind(token: str) -> TokenKind:
    """A personal access token is a three-part JWT; a legacy token is a plain hex key."""
    return "personal_access_token" if token.count(".") == 2 else "legacy"


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


@contextmanager
def api_errors(action: str, *, url: str) -> Iterator[None]:
    """Translate transport and API failures while doing `action` into LabelStudioError."""
    from label_studio_sdk.core.api_error import ApiError
    from label_studio_sdk.core.parse_error import ParsingError

    url = without_userinfo(url)
    _LAST_404.set(None)
    try:
        yield
    except ListingIncomplete as exc:  # a list that changed or ended early: Label Studio's own
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
        if project is not None and isinstance(exc.body, dict):  # Label Studio's own answer
            raise LabelStudioError(
                f"Label Studio at {url} has no project {project} (404 while {action}: "
                f"{_detail(exc.body)}): it was deleted, perhaps while this command ran; if it "
                "is gone, `shanyraq annotate init` makes the project again, then run the "
                "command again"
            ) from None
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


class RenewRefusedAccess(httpx.Auth):
    """httpx auth: a request whose access token Label Studio refuses (401) is sent once more
    with a new one, got from the personal access token as the SDK gets them.

    The SDK renews an access token only when its own clock says it has expired, so one that
    expires on the way, or by a server clock ahead of ours, is refused: a long push or pull
    would stop with a 401 that reads as a wrong token. A refused request was not carried out,
    so sending it again is safe, a POST too. The new token stands in for the refused one on
    later requests until the SDK renews its own. A renewal refused (the personal access token
    revoked or expired) is raised as the SDK raises its own, and `api_errors` words it; one
    that fails otherwise, the SDK's own included, is UnexpectedAnswer: the SDK takes any 404
    during a listing for its end, so a renewal's 404 would cut the list short unseen.
    Requests without a Bearer token (a legacy token) pass as they are.
    """

    requires_request_body = True  # it may be sent twice
    requires_response_body = True  # read, so its connection is free for the renewal

    def __init__(self, refresh_url: str, personal_token: str) -> None:
        self._refresh_url = refresh_url
        self._personal_token = personal_token
        self._refused: set[str] = set()
        self._current = ""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        auth = request.headers.get("Authorization", "")
        if request.method == "POST" and request.url.path.endswith("/api/token/refresh/"):
            _check_renewal((yield request))  # the SDK's own
            return
        if not auth.startswith("Bearer "):
            yield request
            return
        sent = auth.removeprefix("Bearer ")
        if sent in self._refused:
            sent = self._current
            request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code != 401:
            return
        renewal = yield httpx.Request(
            "POST", self._refresh_url, json={"refresh": self._personal_token}
        )
        self._current = _access_from(renewal)
        self._refused.add(sent)
        logger.info("Label Studio refused an access token before it expired by our clock: renewed")
        request.headers["Authorization"] = f"Bearer {self._current}"
        yield request


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _check_renewal(renewal: httpx.Response) -> None:
    """Raise UnexpectedAnswer for a renewal answered neither with a token nor with a refusal."""
    if renewal.status_code not in (200, 401, 403):
        raise UnexpectedAnswer(
            f"renewing the access token was answered {renewal.status_code} "
            f"({_detail(_body(renewal))})"
        )


def _access_from(renewal: httpx.Response) -> str:
    """The new access token; a refusal raised as the SDK raises it (ApiError)."""
    from label_studio_sdk.core.api_error import ApiError

    _check_renewal(renewal)
    body = _body(renewal)
    if renewal.status_code != 200:
        raise ApiError(status_code=renewal.status_code, headers=dict(renewal.headers), body=body)
    access = body.get("access") if isinstance(body, dict) else None
    if not isinstance(access, str) or not access:
        raise UnexpectedAnswer(f"renewing the access token gave no token: {_detail(body)}")
    return access


@dataclass(frozen=True)
class Connection:
    """The SDK client and the URL it talks to (for error messages)."""

    sdk: LabelStudio
    url: str
    user_email: str
    token_kind: TokenKind

    def errors(self, action: str) -> AbstractContextManager[None]:
        return api_errors(action, url=self.url)


def connect(url: str, token: str, *, timeout_s: float = 30.0) -> Connection:
    """A connection that has proved the server is up and the token valid (asks who we are)."""
    from label_studio_sdk import LabelStudio

    url = _userinfo_dropped(url).rstrip("/")
    with api_errors("connecting", url=url):
        # Every page of a list is checked as it arrives (annotation.paging).
        http = httpx.Client(
            timeout=timeout_s,
            follow_redirects=True,
            event_hooks={"response": [_note_404, PageGuard()]},
            auth=RenewRefusedAccess(f"{url}/api/token/refresh/", token),
        )
        # An expired personal access token is refused here, before any request.
        # The trailing slash keeps a path prefix (a reverse proxy's /ls/) in the SDK's token
        # refresh, which joins its path with urljoin; every other request joins it either way.
        client = LabelStudio(
            base_url=url + "/", api_key=token, timeout=timeout_s, httpx_client=http
        )
        user = client.users.whoami()
    kind, shown = token_kind(token), without_userinfo(url)
    logger.info("connected to %s as %s (%s)", shown, user.email, kind)
    return Connection(sdk=client, url=shown, user_email=str(user.email), token_kind=kind)


def _userinfo_dropped(url: str) -> str:
    """`url` without a user name or password, as httpx reads it (else as it is shown): never
    sent (the token signs in), and kept out of httpx's own log of each request."""
    if without_userinfo(url) == url:
        return url
    logger.warning("the Label Studio URL holds a user name or password: not sent, not shown")
    try:
        return str(httpx.URL(url).copy_with(userinfo=b""))
    except (httpx.InvalidURL, UnicodeError):
        return without_userinfo(url)


# The SDK's RequestOptions for a POST that must not be sent twice (imports, creates): the
# caller decides what to send again, after looking at what arrived (annotation.resend).
NO_RETRIES: Any = {"max_retries": 0}
