"""Passwords and tokens: argon2 hashes; expired, tampered, alg=none and foreign tokens refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from serving.core.security import create_token, decode_token, hash_password, verify_password
from serving.errors import InvalidTokenError

KEY = b"k" * 32


def _token(**overrides):
    values = dict(
        user_id=7, username="amina", role="commission", region="shymkent", key=KEY, ttl_s=60
    )
    values.update(overrides)
    return create_token(**values)


def test_password_hash_is_argon2_and_verifies():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("wrong horse battery", stored)
    assert not verify_password("anything", None)  # unknown user: refused, same work done
    assert not verify_password("anything", "not-a-hash")


def test_token_round_trip():
    claims = decode_token(_token(), key=KEY)
    assert (claims.user_id, claims.role, claims.region) == (7, "commission", "shymkent")
    assert claims.expires_at > time.time()


def test_expired_token_refused():
    token = _token(ttl_s=-5)
    with pytest.raises(InvalidTokenError, match="expired"):
        decode_token(token, key=KEY)


def test_tampered_payload_refused():
    header, payload, signature = _token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        decode_token(f"{header}.{forged}.{signature}", key=KEY)


def test_alg_none_refused():
    claims = {"sub": "7", "name": "x", "role": "admin", "region": None, "iat": int(time.time()),
              "exp": int(time.time()) + 60, "jti": "a"}  # fmt: skip
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in (f"{header}.{body}.", f"{header}.{body}"):
        with pytest.raises(InvalidTokenError):
            decode_token(token, key=KEY)


def test_other_key_and_other_algorithm_refused():
    with pytest.raises(InvalidTokenError):
        decode_token(_token(key=b"another key of 32 bytes........."), key=KEY)
    claims = {"sub": "7", "name": "x", "role": "admin", "iat": 0, "exp": int(time.time()) + 60,
              "jti": "a"}  # fmt: skip
    with pytest.raises(InvalidTokenError):
        decode_token(jwt.encode(claims, KEY, algorithm="HS512"), key=KEY)
    with pytest.raises(InvalidTokenError):
        decode_token("garbage", key=KEY)
