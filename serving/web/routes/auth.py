"""Sign-in, sign-out, the password change and the start page: the API's own routes, with
the token kept in a cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm

from serving.api.deps import (
    ROLES,
    CurrentUser,
    CurrentUserDep,
    ServicesDep,
    SessionDep,
    accepted_claims,
    get_current_user,
    policy,
    public,
)
from serving.api.routes import auth as api_auth
from serving.api.schemas import PasswordChange
from serving.core.security import decode_token
from serving.errors import BadCredentialsError, RateLimitedError
from serving.users import (
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    USERNAME_MAX_CHARS,
    CurrentPasswordError,
    PasswordUnchangedError,
    PasswordWeakError,
)
from serving.web.deps import (
    SIGN_IN_PAGE,
    SIGN_IN_POST,
    SignInFormCurrent,
    form_policy,
    record_view,
)
from serving.web.render import render
from serving.web.session import (
    PREFIX,
    SESSION_COOKIE,
    end_session,
    request_cookies,
    set_session,
)
from shanyraq.errors import ShanyraqError

router = APIRouter(prefix=PREFIX, include_in_schema=False)

# Where each role starts after signing in.
LANDING = {
    "commission": f"{PREFIX}/families",
    "inspector": f"{PREFIX}/upload",
    "admin": f"{PREFIX}/oversight",
    "annotator": f"{PREFIX}/",
}


# The interface text that explains each refusal of a password change.
PASSWORD_REFUSALS = {
    CurrentPasswordError.code: "password.wrong_current",
    PasswordWeakError.code: "password.too_short",
    PasswordUnchangedError.code: "password.unchanged",
    RateLimitedError.code: "password.rate_limited",
}
PASSWORD_MISMATCH = "password.mismatch"

# The form's fields (their ids), and the ones each refusal is about: marked invalid, described
# by the reason, the first one focused. Passwords are never filled in again.
CURRENT_FIELD, NEW_FIELD, AGAIN_FIELD = "current-password", "new-password", "new-password-again"
PASSWORD_FIELDS = {
    CurrentPasswordError.code: (CURRENT_FIELD,),
    RateLimitedError.code: (CURRENT_FIELD,),
    PasswordWeakError.code: (NEW_FIELD,),
    PasswordUnchangedError.code: (NEW_FIELD,),
}
MISMATCH_FIELDS = (NEW_FIELD, AGAIN_FIELD)


# The longest address the sign-in form's `next` field takes (serving.web.errors keeps to it).
NEXT_MAX_CHARS = 512


def safe_next(target: str | None) -> str | None:
    """Only a path of these pages may be a redirect target (no open redirect elsewhere), and
    only one the sign-in form's `next` field takes: a longer one would make it refuse (422)."""
    if (
        target
        and len(target) <= NEXT_MAX_CHARS
        and target.startswith(PREFIX + "/")
        and "//" not in target
        and "\\" not in target
    ):
        return target
    return None


@router.get("/login", dependencies=SIGN_IN_PAGE, **public())
def login_page(request: Request, next: str | None = None) -> Response:
    return _sign_in_form(request, next=next)


@router.post("/login", dependencies=SIGN_IN_POST, **public())
def login(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    form_current: SignInFormCurrent,
    username: Annotated[str, Form()],  # its length is checked as typed_username leaves it
    password: Annotated[str, Form(max_length=PASSWORD_MAX_CHARS)],
    next: Annotated[str, Form(max_length=NEXT_MAX_CHARS)] = "",
) -> Response:
    """Check the password through the API's sign-in (rate limit and audit included).

    The username is taken as that route takes it: spaces around it dropped before its length
    is checked, so a 64-character name an autocomplete ended with a space signs in, and one
    too long for any account is the ordinary wrong-name-or-password answer, not a 422.

    A form whose CSRF token is out of date (another tab signed in or out since it was
    shown) or missing (sent from another site) signs nobody in and checks no password: the
    form comes back with the current token, the user name kept, the password not. One the
    browser says was sent from another site, a sibling subdomain included, which could have
    planted the CSRF cookie ("login CSRF"), is refused before that (`same_origin_post`).
    """
    if not form_current:
        return _sign_in_form(
            request, status_code=403, next=next, error="login.stale", username=username
        )
    form = OAuth2PasswordRequestForm(username=username, password=password)
    try:
        token = api_auth.login(request=request, form=form, services=services, session=session)
    except BadCredentialsError:
        return _sign_in_form(
            request, status_code=401, next=next, error="login.wrong", username=username
        )
    _end_replaced_session(request, services, session)
    claims = decode_token(token.access_token, key=services.signing_key)
    response = RedirectResponse(safe_next(next) or LANDING[claims.role], status_code=303)
    set_session(response, request, token=token.access_token)
    return response


def _end_replaced_session(request: Request, services: ServicesDep, session: SessionDep) -> None:
    """Sign out the session this browser's cookie held before a new sign-in replaced it (its
    token revoked and audited as a sign-out), so that a copy of the old cookie (a shared
    computer's next user, a leaked header) is refused, not valid until it expires."""
    old = request_cookies(request).get(SESSION_COOKIE)
    if not old:
        return
    try:
        replaced = get_current_user(services, old)
    except ShanyraqError:  # expired, signed out already, tampered: nothing to end
        return
    api_auth.sign_out(session, services, replaced)


@router.post("/logout", **form_policy(*ROLES))
def logout(
    request: Request, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """Sign out: the session's token is revoked on the server, not only its cookie cleared."""
    api_auth.sign_out(session, services, user)
    return _to_sign_in(request)


@router.post("/logout-all", **form_policy(*ROLES))
def logout_all(
    request: Request, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """Sign out everywhere: every session of the account ends, on every device, this one too."""
    api_auth.sign_out_all(session, services, user)
    return _to_sign_in(request)


@router.get("/password", **policy(*ROLES))
def password_page(
    request: Request, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """The form to change one's own password (after a change: with its notice)."""
    record_view(session, services, user, page="password")
    session.commit()
    return _password_form(request, user, changed=request.query_params.get("changed") == "1")


@router.post("/password", **form_policy(*ROLES))
def change_password(
    request: Request,
    user: CurrentUserDep,
    services: ServicesDep,
    session: SessionDep,
    current_password: Annotated[str, Form(min_length=1, max_length=PASSWORD_MAX_CHARS)],
    new_password: Annotated[str, Form(max_length=PASSWORD_MAX_CHARS)],
    new_password_again: Annotated[str, Form(max_length=PASSWORD_MAX_CHARS)],
) -> Response:
    """Change the password through the API's route (checks, limit and audit included).

    Every other session of the account ends; this one goes on with the fresh token, still
    ending `session_max_hours` after its sign-in at the latest. A refusal shows the form
    again, empty, with the reason tied to the field it is about.
    """
    if new_password != new_password_again:
        return _password_form(
            request, user, status_code=422, error=PASSWORD_MISMATCH, error_fields=MISMATCH_FIELDS
        )
    body = PasswordChange(current_password=current_password, new_password=new_password)
    try:
        token = api_auth.change_own_password(session, services, user, body)
    except (CurrentPasswordError, PasswordWeakError, PasswordUnchangedError,
            RateLimitedError) as refused:  # fmt: skip
        session.rollback()
        text = PASSWORD_REFUSALS[refused.code]
        if isinstance(refused, PasswordWeakError):  # which part of the rule: its own text
            text = f"password.{refused.reason}"
        page = _password_form(
            request, user, status_code=refused.http_status, error=text,
            error_fields=PASSWORD_FIELDS[refused.code],
        )  # fmt: skip
        if isinstance(refused, RateLimitedError):
            page.headers["Retry-After"] = str(refused.retry_after_s)
        return page
    response = RedirectResponse(f"{PREFIX}/password?changed=1", status_code=303)
    # A new token (a new CSRF token), within the bound of this session's sign-in.
    set_session(response, request, token=token.access_token, continues=accepted_claims(request))
    return response


def _password_form(
    request: Request,
    user: CurrentUser,
    *,
    status_code: int = 200,
    error: str | None = None,
    error_fields: tuple[str, ...] = (),
    changed: bool = False,
) -> Response:
    return render(
        request, "password.html", user=user, status_code=status_code, error=error,
        error_fields=error_fields, focus=(error_fields or (CURRENT_FIELD,))[0],
        changed=changed, min_chars=PASSWORD_MIN_CHARS, max_chars=PASSWORD_MAX_CHARS,
    )  # fmt: skip


def _sign_in_form(
    request: Request,
    *,
    status_code: int = 200,
    next: str | None = None,
    error: str | None = None,
    username: str = "",
) -> Response:
    return render(
        request, "login.html", user=None, status_code=status_code, next=safe_next(next) or "",
        error=error, username=username, max_chars=PASSWORD_MAX_CHARS,
        username_max_chars=USERNAME_MAX_CHARS,
    )  # fmt: skip


def _to_sign_in(request: Request) -> Response:
    """After signing out: the sign-in page, with the session cookie cleared."""
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    end_session(response, request)
    return response


@router.get("/", **policy(*ROLES))
def home(
    request: Request, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """The start page: what this role can do here."""
    record_view(session, services, user, page="home")
    session.commit()
    return render(request, "home.html", user=user)
