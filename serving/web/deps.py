"""Page dependencies: the CSRF checks of form posts, and the audit of page views.

Every form post (the sign-in's included) must come from these pages by the browser's own word
(`same_origin_post`): SameSite cookies do not tell a sibling subdomain from this site, and
one that can set cookies for the parent domain could plant the sign-in form's CSRF cookie.

Who may open a page is declared with the API's own `policy(...)` and `*InScope` dependencies
(serving.api.deps); the session cookie reaches them through `session.CookieAuth`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request
from sqlalchemy.orm import Session

from serving import audit
from serving.api.deps import CurrentUser, CurrentUserDep, ServicesDep, policy
from serving.state import Services
from serving.web import session as web_session

SentToken = Annotated[str, Form(alias=web_session.CSRF_FIELD, max_length=128)]

# `Sec-Fetch-Site` values of a post these pages may take: sent from one of them, or made by
# the user alone (a reload), which no other site can cause. "same-site" is a sibling subdomain.
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _same_host(origin: str, host: str) -> bool:
    """Whether `origin` (an Origin header) names the host and port this request was sent to.

    The scheme is not compared: behind a TLS proxy that uvicorn does not trust the request
    reads as http while the browser's origin is https (the README's `secure_cookies: always`
    case). "null" (a sandboxed frame, a data: page) is never this site.
    """
    try:
        sent, own = urlsplit(origin.strip()), urlsplit("//" + host.strip())
        default = _DEFAULT_PORTS.get(sent.scheme)
        return (
            default is not None
            and sent.hostname is not None
            and sent.hostname == own.hostname
            and (sent.port or default) == (own.port or default)
        )
    except ValueError:  # a port that is no number, a malformed address
        return False


def same_origin_post(request: Request) -> None:
    """A form post sent from another site, a sibling subdomain included, is refused (403).

    A browser's `Sec-Fetch-Site` decides when sent. Without it (an older browser, a script),
    an `Origin` header, when sent, must name this host; with neither, the CSRF tokens alone
    decide, as before. Not audited, like the tokens' refusals: any site could fill the log.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site.strip().lower() in _OWN_FETCH_SITES:
            return
    else:
        origin = request.headers.get("origin")
        if origin is None or _same_host(origin, request.headers.get("host", "")):
            return
    raise web_session.CsrfError(
        "the form was sent from another site; open this site's page and send it from there"
    )


def sign_in_form(request: Request) -> None:
    """The sign-in page: its form carries the pre-session CSRF token, even beside a session."""
    web_session.mark_sign_in_form(request)


def sign_in_form_current(request: Request, sent: SentToken = "") -> bool:
    """The sign-in form post: whether its token equals the pre-session CSRF cookie.

    When it does not, the route signs nobody in and shows the form again: a form left open
    while another tab signed in or out is out of date, not an attack worth an error page.
    """
    web_session.mark_sign_in_form(request)  # a refused sign-in shows the form again
    return web_session.sign_in_csrf_matches(request, sent)


def check_session_csrf(user: CurrentUserDep, services: ServicesDep, sent: SentToken = "") -> None:
    """A signed-in form post: its token must be the one bound to this session."""
    web_session.check_session_csrf(services.signing_key, user.token_id, sent)


# Route keyword arguments of the sign-in page and of its form post (whose token's check
# answers in `SignInFormCurrent`: a form out of date is shown again, not refused).
SIGN_IN_PAGE = [Depends(sign_in_form)]
SIGN_IN_POST = [Depends(same_origin_post)]
SignInFormCurrent = Annotated[bool, Depends(sign_in_form_current)]


def form_policy(*roles: str) -> dict[str, Any]:
    """`policy(*roles)` for a form post: the role check first, then where it was sent from,
    then the session's CSRF check."""
    kwargs = policy(*roles)
    kwargs["dependencies"] = [
        *kwargs["dependencies"],
        Depends(same_origin_post),
        Depends(check_session_csrf),
    ]
    return kwargs


def record_view(
    session: Session,
    services: Services,
    user: CurrentUser,
    *,
    page: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit that `user` opened `page` (in the caller's transaction). `details` adds to the
    entry, never in place of its page: one holding "page" is refused (ValueError)."""
    if details and "page" in details:
        raise ValueError(f"the details of a page view hold no 'page' key ({page!r} names it)")
    audit.append(
        session,
        services.signing_key,
        actor=user.username,
        action="page_viewed",
        target=target,
        details={"page": page, **(details or {})},
    )
