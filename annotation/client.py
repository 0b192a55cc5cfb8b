"""The Label Studio connection: one SDK client, and every failure turned into a clear error.

label-studio-sdk 2.x tells the two token kinds apart by their form: a personal access token
is a JWT refresh token, which the SDK exchanges for short-lived access tokens (refreshing them
as they expire); anything else is sent as a legacy `Token` header. Both work here unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import httpx

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


class LabelStudioAuthError(LabelStudioError):
    code = "label_studio_auth"
    http_status = 502


def token_kind(token: str) -> TokenKind:
    """A personal access token is a three-part JWT; a legacy token is a plain hex key."""
    return "personal_access_token" if token.count(".") == 2 else "legacy"


def _detail(body: object) -> str:
    if isinstance(body, dict):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        return "; ".join(p for p in parts if p) or str(body)
    return str(body)[:300]


@contextmanager
def api_errors(action: str, *, url: str) -> Iterator[None]:
    """Translate transport and API failures while doing `action` into LabelStudioError."""
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    # TransportError: refused or dropped connections, timeouts, read/write and protocol errors,
    # a proxy failing, a URL scheme httpx cannot speak: all "cannot reach", never a traceback.
    except httpx.TransportError as exc:
        raise LabelStudioUnreachableError(
            f"cannot reach Label Studio at {url} while {action} ({type(exc).__name__}); "
            "check that the server is running and SHANYRAQ_LABEL_STUDIO_URL is right, then "
            "run the command again (nothing was lost: it only sends what is not there yet)"
        ) from None
    except httpx.InvalidURL as exc:  # a URL that reached us unchecked (settings check theirs)
        raise LabelStudioUnreachableError(
            f"cannot reach Label Studio at {url!r} while {action}: not a valid URL ({exc}); "
            "set SHANYRAQ_LABEL_STUDIO_URL (or server.url in annotation.yaml) to the server's "
            "address"
        ) from None
    except ApiError as exc:
        status = exc.status_code or 0
        if status in (401, 403):
            raise LabelStudioAuthError(
                f"Label Studio at {url} refused the token while {action} ({status}: "
                f"{_detail(exc.body)}); set SHANYRAQ_LABEL_STUDIO_TOKEN to a valid personal "
                "access token (or a legacy token, if the organisation allows them)"
            ) from None
        raise LabelStudioError(
            f"Label Studio at {url} answered {status} while {action}: {_detail(exc.body)}"
        ) from None


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

    url = url.rstrip("/")
    with api_errors("connecting", url=url):
        # An expired personal access token is refused here, before any request.
        client = LabelStudio(base_url=url, api_key=token, timeout=timeout_s)
        user = client.users.whoami()
    kind = token_kind(token)
    logger.info("connected to %s as %s (%s)", url, user.email, kind)
    return Connection(sdk=client, url=url, user_email=str(user.email), token_kind=kind)
