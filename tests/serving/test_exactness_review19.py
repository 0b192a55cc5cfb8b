"""Exactness review (helper-214): a photo's reuse verdict is its own bytes' (not another photo
of its family with the same hash string), the per-address sign-in limit keys an IPv6 client by
its /64, and ErrorBody documents the `{where, problem}` items of its `details`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from benchmarks.quality_curves import scenes
from serving.db.models import AuditEntry, Family, Photo
from serving.db.session import session_scope
from serving.photo_evidence import photo_flags
from serving.reuse_index import ReuseIndex
from serving.reuse_links import reuse_shown
from serving.state import Services
from tests.serving.helpers import REGION

# ---- 1. the reuse verdict is the photo's own ----


@pytest.fixture(scope="module")
def rooms() -> list[np.ndarray]:
    return scenes(2, seed=3, width=640)  # two different rooms (tests/vision/test_reuse.py)


@pytest.mark.parametrize("first", ["A", "B"])
def test_two_copies_in_one_family_each_get_their_own_verdict(rooms, first):
    """F1 filed A (the same room as F2's photo X) and B (another room); all three carry one
    hash string, so only the pixels tell A from B. Before: the index verified the photo it
    found first under that string, so the one filed second got the other's verdict."""
    from vision.engine import get_engine_config
    from vision.hashing import reuse_hashes

    config = get_engine_config().hashing
    hex_hash = reuse_hashes(rooms[0], config.crop_fractions).to_hex()
    pixels = {"a" * 64: rooms[0], "b" * 64: rooms[1], "c" * 64: rooms[0]}
    index = ReuseIndex(config=config, load_pixels=pixels.__getitem__)
    photos = {
        "A": Photo(id=1, family_id="F1", sha256="a" * 64, perceptual_hash=hex_hash),
        "B": Photo(id=2, family_id="F1", sha256="b" * 64, perceptual_hash=hex_hash),
    }
    for name in (first, "B" if first == "A" else "A"):
        photo = photos[name]
        index.add(photo.id, hex_hash, family_id="F1", region=REGION, sha256=photo.sha256)
    index.add(3, hex_hash, family_id="F2", region=REGION, sha256="c" * 64)  # X
    services = cast(Services, SimpleNamespace(reuse=index))
    family = Family(id="F1", region=REGION)

    flagged = {
        name: photo_flags(services, photo, family, linked=False).reused
        for name, photo in photos.items()
    }
    assert flagged == {"A": True, "B": False}
    shown = {
        name: reuse_shown(services, photo, [], viewer_role="commission", viewer_region=None)
        for name, photo in photos.items()
    }
    assert [d["photo_id"] for d in shown["A"]["details"]] == [3]
    assert shown["B"] == {"reused": False, "matches": 0, "details": []}


# ---- 2. an IPv6 client is limited by its /64 ----


def _login(service: Any, address: str) -> int:
    client = TestClient(service.app, base_url="http://127.0.0.1", client=(address, 50000))
    answer = client.post("/auth/token", data={"username": "ghost", "password": "wrong guess"})
    return int(answer.status_code)


def _limit_targets(service: Any) -> list[str]:
    with session_scope(service.services.sessions) as session:
        statement = select(AuditEntry.target).where(AuditEntry.action == "login_rate_limited")
        return [str(t) for t in session.execute(statement).scalars()]


def test_rotating_addresses_within_one_ipv6_64_is_one_address(make_service):
    # Before: each address of the /64 had its own budget, so a client rotating through its
    # prefix (2^64 addresses) was never limited per address.
    service = make_service(
        rate_limits={"login_per_minute": 3, "login_per_account": 1000,
                     "login_account_window_minutes": 15},
    )  # fmt: skip
    rotated = [_login(service, f"2001:db8:1:2::{i:x}") for i in range(1, 6)]
    assert rotated == [401, 401, 401, 429, 429]
    assert _login(service, "2001:db8:1:3::1") == 401  # another /64: a budget of its own
    assert _limit_targets(service) == ["client:2001:db8:1:2::/64"]
    # An IPv4-mapped IPv6 address counts as its IPv4; IPv4 addresses stay one each.
    mapped = [_login(service, "::ffff:10.0.0.1") for _ in range(2)]
    assert [*mapped, _login(service, "10.0.0.1"), _login(service, "10.0.0.1")] == [
        401, 401, 401, 429,
    ]  # fmt: skip
    assert _login(service, "10.0.0.2") == 401


# ---- 3. ErrorBody documents its details' items ----


def test_an_invalid_requests_details_are_documented_item_by_item(service):
    from jsonschema import Draft202012Validator

    openapi = service.client.get("/openapi.json").json()
    components = openapi["components"]
    details = components["schemas"]["ErrorBody"]["properties"]["details"]
    assert "`where`" in details["description"] and "`problem`" in details["description"]
    listed = next(s for s in details.get("anyOf", [details]) if s.get("type") == "array")
    item = {**listed["items"], "components": components}
    validator = Draft202012Validator(item)

    answer = service.client.get(
        "/families", params={"limit": "many", "offset": -1}, headers=service.headers("commission")
    )
    assert answer.status_code == 422 and answer.json()["code"] == "request_invalid"
    given = answer.json()["details"]
    assert {d["where"] for d in given} == {"query.limit", "query.offset"}
    for detail in given:
        validator.validate(detail)
    # Documented, not free-form: each field has its type. Before: any object passed.
    assert not validator.is_valid({"where": 5, "problem": "too small"})
    assert not validator.is_valid({"where": "query.limit", "problem": ["too", "small"]})
    assert validator.is_valid({"where": "body.x", "problem": "missing", "hint": "any other"})
