"""The session clock a page carries: when its session ends unless used again, and whether
it can still be extended, so the page warns shortly before (WCAG 2.2.1 Timing Adjustable).

The answer's session cookie may be renewed on its way out (`session.renewal`, by
`CookieAuth`), so the end told is the renewed token's when a renewal is due: the one this
answer will carry. Times go to the page as seconds from now, so the reader's clock may be off.
An answer whose due renewal is not made after all tells the real clock instead
(`tell_skipped_renewal`), in its page's session warning too.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass

from fastapi import Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send

from serving.api.deps import accepted_claims
from serving.state import Services
from serving.web.session import SESSION_COOKIE, renewed_claims, request_cookies

# The clock of an answer a page's script fetched (JSON): a renewal it carried moves the warning.
CLOCK_HEADER = "X-Session-Clock"
# On an answer whose due renewal was not made (`tell_skipped_renewal`): its body's clock and
# its route's `CLOCK_HEADER` counted on the renewal; the `CLOCK_HEADER` it goes out with is true.
SKIPPED_HEADER = "X-Session-Renewal"
SKIPPED = "skipped"
# A page's session warning (templates/base.html): its start tag carries the page's clock.
_WARNING_TAG = re.compile(rb'<dialog\b[^>]*\bid="session-warning"[^>]*>')
_CLOCK_ATTRIBUTES = re.compile(rb'\s+data-(?:ends-in|warn-before|final)="[^"]*"')


@dataclass(frozen=True)
class SessionClock:
    ends_in_s: int  # until the session's token (after this answer) expires
    warn_before_s: int  # how long before that end the page warns
    final: bool  # the session is at its bound (session_max_hours): it cannot be extended


def _cookie_session(request: Request) -> bool:
    """Whether the sign-in check ran on the session cookie (the token a renewal replaces),
    not on a bearer header sent with the request."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (
        scheme.lower() == "bearer"
        and bool(token)
        and token == request_cookies(request).get(SESSION_COOKIE)
    )


def session_clock(
    request: Request, *, now: float | None = None, renewing: bool = True
) -> SessionClock | None:
    """This answer's session clock; None where no session was accepted (sign-in page).

    `renewing`: the answer carries its renewal when one is due (False: it does not).
    """
    claims = accepted_claims(request)
    if claims is None:
        return None
    services: Services = request.app.state.services
    now = time.time() if now is None else now
    if renewing and _cookie_session(request):
        claims = renewed_claims(claims, services.settings, now=now) or claims
    # Final: even a use just before its end would get the session no later token.
    last_use = claims.expires_at - 1
    final = renewed_claims(claims, services.settings, now=last_use) is None
    # A renewal is due only past half the token's life: warn no earlier, or "Stay signed in"
    # would renew nothing. A final session offers no renewal: its end is told the full
    # warning time before, however short its last token.
    warn_before_s = services.settings.session_warning_seconds
    if not final:
        half_life_s = (claims.expires_at - claims.issued_at) / 2
        warn_before_s = min(warn_before_s, half_life_s - 1)
    return SessionClock(
        ends_in_s=max(0, int(claims.expires_at - now)),
        warn_before_s=max(0, int(warn_before_s)),
        final=final,
    )


def tell_session_clock(response: Response, request: Request) -> None:
    """Put this answer's session clock in its `CLOCK_HEADER`, for the script that fetched it."""
    clock = session_clock(request)
    if clock is not None:
        response.headers[CLOCK_HEADER] = json.dumps(asdict(clock))


def tell_skipped_renewal(
    headers: MutableHeaders, request: Request, send: Send, *, ended: bool
) -> Send:
    """Mark an answer whose due renewal `session.CookieAuth` did not make, with the real clock
    in its `CLOCK_HEADER`: none left where the session has `ended` meanwhile (signed out,
    replaced by a sign-in, a password change), else (it could not be checked) the current
    token's. The page then never shows more time than the server granted.

    Returns the `send` for the rest of the answer: a page (HTML) gets the real clock in its
    session warning too (`_page_telling`), as its page cannot read the answer's headers.
    """
    clock = (
        SessionClock(ends_in_s=0, warn_before_s=0, final=True)
        if ended
        else session_clock(request, renewing=False)
    )
    headers[SKIPPED_HEADER] = SKIPPED
    if clock is None:
        return send
    headers[CLOCK_HEADER] = json.dumps(asdict(clock))
    if not headers.get("content-type", "").startswith("text/html"):
        return send
    return _page_telling(send, clock)


def page_with_clock(body: bytes, clock: SessionClock) -> bytes:
    """`body`, a page, with `clock` in its session warning (unchanged where it has none)."""
    found = _WARNING_TAG.search(body)
    if found is None:
        return body
    told = f' data-ends-in="{clock.ends_in_s}" data-warn-before="{clock.warn_before_s}"'
    told += ' data-final="true"' if clock.final else ""
    tag = _CLOCK_ATTRIBUTES.sub(b"", found.group()).replace(
        b'id="session-warning"', b'id="session-warning"' + told.encode(), 1
    )
    return body[: found.start()] + tag + body[found.end() :]


def _page_telling(send: Send, clock: SessionClock) -> Send:
    """`send` for a page's answer (from its start on) whose body tells `clock`: the start is
    held until the body is whole, and its length set to the corrected body's."""
    held: list[Message] = []

    async def send_page(message: Message) -> None:
        held.append(message)
        if message["type"] == "http.response.start" or (
            message["type"] == "http.response.body" and message.get("more_body", False)
        ):
            return
        start, *rest = held
        held.clear()
        if message["type"] != "http.response.body":  # not a body as expected: sent as it is
            for each in (start, *rest):
                await send(each)
            return
        body = b"".join(each.get("body", b"") for each in rest)
        told = page_with_clock(body, clock)
        start_headers = MutableHeaders(scope=start)
        if told != body and "content-length" in start_headers:
            start_headers["content-length"] = str(len(told))
        await send(start)
        await send({"type": "http.response.body", "body": told, "more_body": False})

    return send_page
