"""Passwords (argon2) and access tokens (HS256 JWT with expiry); nothing else signs or hashes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from serving.errors import InvalidTokenError

ALGORITHM = "HS256"
_HASHER = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so both paths take as long.
_DUMMY_HASH = _HASHER.hash("no such user")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True if `password` matches; always does the argon2 work, even for unknown users."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True if `password_hash` was made with other argon2 parameters (or variant) than new
    hashes are: an account from before they changed, to hash again at its next sign-in."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    username: str
    role: str
    region: str | None
    expires_at: float
    token_id: str  # JWT jti: the session's id, kept when a page session's token is renewed
    issued_at: int  # whole seconds (JWT iat): when this token was made
    # When its session began, by a sign-in (auth_time; a token without one: its iat). "Sign
    # out everywhere" compares this with its mark, so it ends renewed sessions too.
    signed_in_at: int
    # No token of its session is valid past this (session_exp; a token without one: its exp).
    session_expires_at: float


def create_token(
    *,
    user_id: int,
    username: str,
    role: str,
    region: str | None,
    key: bytes,
    ttl_s: float,
    now: float | None = None,
) -> str:
    """A token of a new session (a sign-in), valid `ttl_s` from `now` (default: the clock)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": str(user_id),
        "name": username,
        "role": role,
        "region": region,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def reissued_claims(
    claims: TokenClaims, *, ttl_s: float, session_expires_at: float, now: float | None = None
) -> TokenClaims:
    """The claims of the same session's next token: same account, id (jti) and sign-in time.

    It is valid `ttl_s` from `now`, but never past `session_expires_at`, which it carries
    on, so no later token of the session can outlive it either.
    """
    issued = int(time.time() if now is None else now)
    ends = int(session_expires_at)
    return replace(
        claims,
        issued_at=issued,
        expires_at=float(min(issued + int(ttl_s), ends)),
        session_expires_at=float(ends),
    )


def encode_session_token(claims: TokenClaims, *, key: bytes) -> str:
    """The signed token of `claims` (a session's token, renewed or bound: see reissued_claims)."""
    payload = {
        "sub": str(claims.user_id),
        "name": claims.username,
        "role": claims.role,
        "region": claims.region,
        "iat": claims.issued_at,
        "nbf": claims.issued_at,
        "exp": int(claims.expires_at),
        "jti": claims.token_id,
        "auth_time": claims.signed_in_at,
        "session_exp": int(claims.session_expires_at),
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def reissue_token(
    claims: TokenClaims,
    *,
    key: bytes,
    ttl_s: float,
    session_expires_at: float,
    now: float | None = None,
) -> str:
    """The signed token of `reissued_claims`."""
    renewed = reissued_claims(claims, ttl_s=ttl_s, session_expires_at=session_expires_at, now=now)
    return encode_session_token(renewed, key=key)


def decode_token(token: str, *, key: bytes) -> TokenClaims:
    """Verify signature, algorithm and expiry; any failure is InvalidTokenError."""
    try:
        # The algorithm list is fixed: a token naming "none" or another algorithm is refused.
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
        return TokenClaims(
            user_id=int(claims["sub"]),
            username=str(claims["name"]),
            role=str(claims["role"]),
            region=claims.get("region"),
            expires_at=float(claims["exp"]),
            token_id=str(claims["jti"]),
            issued_at=int(claims["iat"]),
            signed_in_at=int(claims.get("auth_time", claims["iat"])),
            session_expires_at=float(claims.get("session_exp", claims["exp"])),
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("the session has expired; sign in again") from None
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        raise InvalidTokenError("the access token is not valid; sign in again") from None
