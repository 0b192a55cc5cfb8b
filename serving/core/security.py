"""Passwords (argon2) and access tokens (HS256 JWT with expiry); nothing else signs or hashes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

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


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    username: str
    role: str
    region: str | None
    expires_at: float
    token_id: str
    issued_at: int  # whole seconds (JWT iat): "sign out everywhere" compares it with a mark


def create_token(
    *, user_id: int, username: str, role: str, region: str | None, key: bytes, ttl_s: float
) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "name": username,
        "role": role,
        "region": region,
        "iat": now,
        "nbf": now,
        "exp": now + int(ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


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
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("the session has expired; sign in again") from None
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        raise InvalidTokenError("the access token is not valid; sign in again") from None
