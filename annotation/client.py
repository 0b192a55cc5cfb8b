"""The Label Studio connection: one SDK client, and every failure turned into a clear error.

label-studio-sdk 2.x tells the two token kinds apart by their form: a personal access token
is a JWT refresh token, which the SDK exchanges for short-lived access tokens (refreshing them
as they expire by its own clock); anything else is sent as a legacy `Token` header. Both work
here unchanged. An access token refused all the same (it expired on the way, or the server's
clock runs ahead) is renewed and the request sent once more (`RenewRefusedAccess`), so a long
push or pull does not stop with what reads as a wrong token.

How each failure is worded (the error kinds, `api_errors`) is annotation.client_errors; its
names are importable from here too, where the rest of the annotation code takes them.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

# Imported here, each `as` itself, for the modules and tests that take them from here.
from annotation.client_errors import SLOW_ANSWER as SLOW_ANSWER
from annotation.client_errors import LabelStudioAnswerError as LabelStudioAnswerError
from annotation.client_errors import LabelStudioAuthError as LabelStudioAuthError
from annotation.client_errors import LabelStudioError as LabelStudioError
from annotation.client_errors import LabelStudioTimeoutError as LabelStudioTimeoutError
from annotation.client_errors import LabelStudioUnreachableError as LabelStudioUnreachableError
from annotation.client_errors import _detail, _note_404, api_errors
from annotation.client_errors import waited as waited
from annotation.client_errors import without_userinfo as without_userinfo
from annotation.paging import PageGuard, UnexpectedAnswer

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

logger = logging.getLogger(__name__)

TokenKind = Literal["personal_access_token", "legacy"]


def token_kind(token: str) -> TokenKind:
    """A personal access token is a three-part JWT; a legacy token is a plain hex key."""
    return "personal_access_token" if token.count(".") == 2 else "legacy"


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
        return api_errors(action, url=self.url, sdk=self.sdk)


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
