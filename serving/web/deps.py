"""Page dependencies: the CSRF check of form posts, and the audit of page views.

Who may open a page is declared with the API's own `policy(...)` and `*InScope` dependencies
(serving.api.deps); the session cookie reaches them through `session.CookieAuth`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from sqlalchemy.orm import Session

from serving import audit
from serving.api.deps import CurrentUser, policy
from serving.state import Services
from serving.web.session import check_csrf

# Route keyword argument of a public form post (sign-in): `@router.post(..., dependencies=CSRF)`.
CSRF = [Depends(check_csrf)]


def form_policy(*roles: str) -> dict[str, Any]:
    """`policy(*roles)` for a form post: the role check first, then the CSRF check."""
    kwargs = policy(*roles)
    kwargs["dependencies"] = [*kwargs["dependencies"], *CSRF]
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
    """Audit that `user` opened `page` (in the caller's transaction)."""
    audit.append(
        session,
        services.signing_key,
        actor=user.username,
        action="page_viewed",
        target=target,
        details={"page": page, **(details or {})},
    )
