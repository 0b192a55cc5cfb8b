"""Sign-in, sign-out and the start page: the API's login, with the token kept in a cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm

from serving.api.deps import ROLES, CurrentUserDep, ServicesDep, SessionDep, policy
from serving.api.routes import auth as api_auth
from serving.core.security import decode_token
from serving.errors import BadCredentialsError
from serving.web.deps import CSRF, form_policy, record_view
from serving.web.render import render
from serving.web.session import PREFIX, clear_session, set_session

router = APIRouter(prefix=PREFIX, include_in_schema=False)

# Where each role starts after signing in.
LANDING = {
    "commission": f"{PREFIX}/families",
    "inspector": f"{PREFIX}/upload",
    "admin": f"{PREFIX}/oversight",
    "annotator": f"{PREFIX}/",
}


def safe_next(target: str | None) -> str | None:
    """Only a path of these pages may be a redirect target (no open redirect elsewhere)."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return None


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", user=None, next=safe_next(next) or "", error=None)


@router.post("/login", dependencies=CSRF)
def login(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Check the password through the API's sign-in (rate limit and audit included)."""
    form = OAuth2PasswordRequestForm(username=username, password=password)
    try:
        token = api_auth.login(request=request, form=form, services=services, session=session)
    except BadCredentialsError:
        return render(
            request,
            "login.html",
            user=None,
            status_code=401,
            next=safe_next(next) or "",
            error="login.wrong",
        )
    claims = decode_token(token.access_token, key=services.signing_key)
    response = RedirectResponse(safe_next(next) or LANDING[claims.role], status_code=303)
    set_session(response, request, token=token.access_token, ttl_s=token.expires_in)
    return response


@router.post("/logout", **form_policy(*ROLES))
def logout(user: CurrentUserDep, services: ServicesDep, session: SessionDep) -> Response:
    """Sign out: the session's token is revoked on the server, not only its cookie cleared."""
    api_auth.sign_out(session, services, user)
    return _to_sign_in()


@router.post("/logout-all", **form_policy(*ROLES))
def logout_all(user: CurrentUserDep, services: ServicesDep, session: SessionDep) -> Response:
    """Sign out everywhere: every session of the account ends, on every device, this one too."""
    api_auth.sign_out_all(session, services, user)
    return _to_sign_in()


def _to_sign_in() -> Response:
    """After signing out: the sign-in page, with the session cookie cleared."""
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    clear_session(response)
    return response


@router.get("/", **policy(*ROLES))
def home(
    request: Request, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """The start page: what this role can do here."""
    record_view(session, services, user, page="home")
    session.commit()
    return render(request, "home.html", user=user)
