"""Page dependencies: the CSRF checks of form posts, and the audit of page views.

Who may open a page is declared with the API's own `policy(...)` and `*InScope` dependencies
(serving.api.deps); the session cookie reaches them through `session.CookieAuth`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from sqlalchemy.orm import Session

from serving import audit
from serving.api.deps import CurrentUser, CurrentUserDep, ServicesDep, policy
from serving.state import Services
from serving.web import session as web_session

SentToken = Annotated[str, Form(alias=web_session.CSRF_FIELD, max_length=128)]


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


# Route keyword arguments of the sign-in page; the answer of its form post's CSRF check.
SIGN_IN_PAGE = [Depends(sign_in_form)]
SignInFormCurrent = Annotated[bool, Depends(sign_in_form_current)]


def form_policy(*roles: str) -> dict[str, Any]:
    """`policy(*roles)` for a form post: the role check first, then the session's CSRF check."""
    kwargs = policy(*roles)
    kwargs["dependencies"] = [*kwargs["dependencies"], Depends(check_session_csrf)]
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
