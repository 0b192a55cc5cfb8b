"""User accounts (admins only): create, list, sign out everywhere, disable and enable."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from serving.api.deps import (
    CurrentUserDep,
    ServicesDep,
    SessionDep,
    UserInScope,
    audit_action,
    policy,
    scoped,
)
from serving.api.errors import error_responses
from serving.api.schemas import UserCreate, UserOut
from serving.api.strict_json import StrictJSONRoute
from serving.db.models import User
from serving.sign_out import sign_out_everywhere
from serving.users import check_grant, create_user, set_active

router = APIRouter(prefix="/users", tags=["users"], route_class=StrictJSONRoute)


def _out(user: User) -> UserOut:
    return UserOut(
        id=user.id, username=user.username, role=user.role, region=user.region, active=user.active
    )


@router.post(
    "", status_code=201, response_model=UserOut,
    responses=error_responses(401, 403, 409, 422), **policy("admin"),
)  # fmt: skip
def add_user(
    body: UserCreate, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> UserOut:
    """Create an account with a role and (for all but admins) a region.

    A national admin (no region) may create any account. A regional admin may create
    accounts of every role, other admins of its region included, but only in its own
    region: another region, or no region (a national admin), is refused with 403
    `region_out_of_scope`.
    """
    check_grant(user.region, region=body.region)
    created = create_user(
        session, username=body.username, password=body.password, role=body.role, region=body.region
    )
    audit_action(
        session, services, user, "user_created",
        target=f"user:{created.username}", details={"role": created.role, "region": created.region},
    )  # fmt: skip
    return _out(created)


@router.get(
    "", response_model=list[UserOut], responses=error_responses(401, 403), **policy("admin")
)
def list_users(user: CurrentUserDep, services: ServicesDep, session: SessionDep) -> list[UserOut]:
    """Every account for a national admin; only its region's accounts for a regional admin.

    The read is audited."""
    statement = scoped(select(User), user, User.region).order_by(User.id)
    accounts = [_out(u) for u in session.execute(statement).scalars()]
    audit_action(session, services, user, "users_listed", details={"count": len(accounts)})
    return accounts


@router.post(
    "/{user_id}/logout-all", status_code=204, response_class=Response,
    responses=error_responses(401, 403, 404, 422), **policy("admin"),
)  # fmt: skip
def sign_out_user(
    account: UserInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> Response:
    """Sign an account out everywhere: every access token it holds is refused from now on.

    For a lost or stolen device, or someone who left; the password stays as it is, so also
    reset it (`shanyraq users set-password`) if it may be known. A national admin may sign out
    any account; a regional admin only those of its region (404 for any other, as if absent).
    """
    sign_out_everywhere(account)
    audit_action(session, services, user, "user_logout_all", target=f"user:{account.username}")
    return Response(status_code=204)


@router.post(
    "/{user_id}/disable", response_model=UserOut,
    responses=error_responses(401, 403, 404, 409, 422), **policy("admin"),
)  # fmt: skip
def disable_user(
    account: UserInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> UserOut:
    """Disable an account (someone who left, a role withdrawn): it can no longer sign in, and
    every token it holds is refused from now on. Its uploads, decisions and audit entries stay
    as they are. An admin cannot disable itself (409 `own_account`). A national admin may
    disable any account; a regional admin only those of its region (404 for any other)."""
    changed = set_active(account, active=False, by_user_id=user.id)
    audit_action(session, services, user, "user_disabled", target=f"user:{account.username}",
                 details={"changed": changed})  # fmt: skip
    return _out(account)


@router.post(
    "/{user_id}/enable", response_model=UserOut,
    responses=error_responses(401, 403, 404, 422), **policy("admin"),
)  # fmt: skip
def enable_user(
    account: UserInScope, user: CurrentUserDep, services: ServicesDep, session: SessionDep
) -> UserOut:
    """Enable a disabled account again: it may sign in anew (the sessions it had before it
    was disabled stay signed out). Scoped as disabling is."""
    changed = set_active(account, active=True)
    audit_action(session, services, user, "user_enabled", target=f"user:{account.username}",
                 details={"changed": changed})  # fmt: skip
    return _out(account)
