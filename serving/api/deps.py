"""Shared dependencies: state, database session, current user, role policy and region scope.

Routes never check roles or regions themselves: `policy(...)` declares who may call a route
(and writes it into the OpenAPI as `x-policy`), and the `*InScope` dependencies load a
family, photo, assessment or user account only if it lies in the caller's region (404
otherwise, so the existence of other regions' records is not revealed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Select
from sqlalchemy.orm import Session, sessionmaker

from serving import audit
from serving.core.security import TokenClaims, decode_token
from serving.db.models import ROLES, Assessment, Family, Photo, User
from serving.db.session import session_scope
from serving.errors import InvalidTokenError, NotAuthenticatedError, NotFoundError, RoleRefusedError
from serving.sign_out import is_revoked, issued_before_mark
from serving.state import Services

# Ids are 32-bit integers in every database; larger ones are refused as invalid, not looked up.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
FamilyId = Annotated[str, Path(min_length=1, max_length=64)]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _session_of(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
    finally:
        session.close()


def get_session(services: ServicesDep) -> Iterator[Session]:
    yield from _session_of(services.sessions)


SessionDep = Annotated[Session, Depends(get_session)]


def get_read_session(services: ServicesDep) -> Iterator[Session]:
    yield from _session_of(services.readers)


# For routes that only read through the request's session (their writes, if any, go through
# a write session of their own): on SQLite these never wait for the write lock.
ReadSessionDep = Annotated[Session, Depends(get_read_session)]

_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: str
    region: str | None  # None: national scope (admins only)
    # The access token this request came with, for signing it out: its session's id (jti),
    # and until when a token of that session can be valid (renewals included).
    token_id: str = ""
    token_expires_at: float = 0.0

    def sees_region(self, region: str) -> bool:
        return self.region is None or self.region == region


def get_current_user(services: Services, token: str | None) -> CurrentUser:
    """The account `token` signs in, if the token is valid and its session not signed out."""
    return _accepted(services, token)[0]


def _accepted(services: Services, token: str | None) -> tuple[CurrentUser, TokenClaims]:
    if not token:
        raise NotAuthenticatedError("sign in first: send 'Authorization: Bearer <token>'")
    claims = decode_token(token, key=services.signing_key)
    # A short read of its own: the caller's transaction must not start this early.
    with session_scope(services.readers) as session:
        user = session.get(User, claims.user_id)
        if user is None or not user.active:
            raise InvalidTokenError("this account is disabled or gone; ask an administrator")
        if is_revoked(session, claims.token_id):
            raise InvalidTokenError("this session was signed out; sign in again")
        if issued_before_mark(user, issued_at_s=claims.signed_in_at):
            raise InvalidTokenError("every session of this account was signed out; sign in again")
        # A revocation must outlast every token of the session, renewed ones included.
        return CurrentUser(
            id=user.id, username=user.username, role=user.role, region=user.region,
            token_id=claims.token_id, token_expires_at=claims.session_expires_at,
        ), claims  # fmt: skip


def current_user(
    request: Request, services: ServicesDep, token: Annotated[str | None, Depends(_bearer)]
) -> CurrentUser:
    """`get_current_user` as the routes' dependency. The claims it accepted stay on the
    request (`accepted_claims`): pages bind CSRF tokens to them and renew their sessions
    from them (serving.web.session) without decoding the token again."""
    user, claims = _accepted(services, token)
    request.state.token_claims = claims
    return user


def accepted_claims(request: Request) -> TokenClaims | None:
    """The claims of the token this request's sign-in check accepted; None if none ran."""
    claims: TokenClaims | None = getattr(request.state, "token_claims", None)
    return claims


CurrentUserDep = Annotated[CurrentUser, Depends(current_user)]


class _Allow:
    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    def __call__(self, user: CurrentUserDep) -> CurrentUser:
        if user.role not in self.roles:
            raise RoleRefusedError(
                f"a {user.role} may not do this; it is for: {', '.join(sorted(self.roles))}",
                roles=self.roles,
            )
        return user


def policy(*roles: str) -> dict[str, Any]:
    """Route keyword arguments: only `roles` may call it; recorded in the OpenAPI."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {ROLES}")
    return {
        "dependencies": [Depends(_Allow(frozenset(roles)))],
        "openapi_extra": {"x-policy": {"roles": sorted(roles)}},
    }


def public() -> dict[str, Any]:
    """Route keyword arguments for a route anyone may call (health, metrics, login)."""
    return {"openapi_extra": {"x-policy": {"public": True}}}


def scoped(statement: Select[Any], user: CurrentUser, region_column: Any) -> Select[Any]:
    """Filter a list query to the caller's region."""
    return statement if user.region is None else statement.where(region_column == user.region)


def _family(session: Session, family_id: str, user: CurrentUser) -> Family:
    family = session.get(Family, family_id)
    if family is None or not user.sees_region(family.region):
        raise NotFoundError(f"no family {family_id!r} in your region")
    return family


def family_in_scope(family_id: FamilyId, user: CurrentUserDep, session: SessionDep) -> Family:
    return _family(session, family_id, user)


def photo_in_scope(photo_id: RowId, user: CurrentUserDep, session: SessionDep) -> Photo:
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise NotFoundError(f"no photo {photo_id} in your region")
    family = session.get(Family, photo.family_id)
    if family is None or not user.sees_region(family.region):
        raise NotFoundError(f"no photo {photo_id} in your region")
    return photo


def assessment_in_scope(
    assessment_id: RowId, user: CurrentUserDep, session: SessionDep
) -> Assessment:
    assessment = session.get(Assessment, assessment_id)
    if assessment is None:
        raise NotFoundError(f"no assessment {assessment_id} in your region")
    family = session.get(Family, assessment.family_id)
    if family is None or not user.sees_region(family.region):
        raise NotFoundError(f"no assessment {assessment_id} in your region")
    return assessment


def user_in_scope(user_id: RowId, user: CurrentUserDep, session: SessionDep) -> User:
    """An account the calling admin may manage: any for a national admin, only its region's
    for a regional one (national accounts, which have no region, excluded); 404 otherwise,
    as for families."""
    account = session.get(User, user_id)
    if account is None or (user.region is not None and account.region != user.region):
        raise NotFoundError(f"no user {user_id} in your region")
    return account


def family_in_scope_read(
    family_id: FamilyId, user: CurrentUserDep, session: ReadSessionDep
) -> Family:
    return _family(session, family_id, user)


FamilyInScope = Annotated[Family, Depends(family_in_scope)]
# The same check through a read-only session, for routes that write only in their own sessions.
FamilyInScopeReadOnly = Annotated[Family, Depends(family_in_scope_read)]
PhotoInScope = Annotated[Photo, Depends(photo_in_scope)]
AssessmentInScope = Annotated[Assessment, Depends(assessment_in_scope)]
UserInScope = Annotated[User, Depends(user_in_scope)]


def audit_action(
    session: Session,
    services: Services,
    user: CurrentUser,
    action: str,
    *,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry for what `user` did or read (`family_viewed`, `photos_listed`,
    `family_created`, ...) and commit it with whatever the caller's session holds."""
    audit.append(
        session, services.signing_key, actor=user.username, action=action, target=target,
        details=details,
    )  # fmt: skip
    session.commit()
