"""Helpers of the family-flags tests: photo scores and quality verdicts made to order, one
family per kind of photo (a fixture, on the `web` fixture of the module that takes it), and
a user as the API sees them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from serving.api.deps import CurrentUser
from serving.db.models import Photo, User
from serving.db.session import session_scope
from tests.serving.helpers import Service, jpeg
from vision.score import PhotoScore

PASS = {"status": "pass", "reasons": [], "retake_hint": ""}


FAIL = {"status": "fail", "reasons": ["blur"], "retake_hint": "Hold the camera still."}


ROOMS = ("kitchen", "bathroom", "bedroom", "living_room", "exterior", "not_dwelling")


def score_of(
    sha: str, *, top: str = "kitchen", tie: str | None = None, **kw: Any
) -> dict[str, Any]:
    """A confident score whose top room is `top` (tied with `tie`, if given)."""
    room = dict.fromkeys(ROOMS, 0.02)
    room[top] = 0.9 if tie is None else 0.45
    if tie is not None:
        room[tie] = 0.45
    fields: dict[str, Any] = {
        "condition": {1: 0.05, 2: 0.7, 3: 0.15, 4: 0.05, 5: 0.05},
        "signs": {"damp_mould": 0.83},
        **kw,
    }
    return PhotoScore(
        photo_sha256=sha, model_version="photo-test", room=room,
        embedding=np.zeros(4, dtype=np.float32), **fields,
    ).to_dict()  # fmt: skip


# Each kind of photo, alone in its family: (score arguments, or None: stored without one;
# its quality verdict).
KINDS: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "usable": ({}, PASS),
    "abstained": ({"abstain": True, "abstain_reasons": ("low_confidence",)}, PASS),
    "quality_failed": ({}, FAIL),
    "unscored": (None, PASS),
    "nan_condition": ({"condition": {1: math.nan, 2: 0.7, 3: 0.1, 4: 0.1, 5: 0.1}}, PASS),
    "nan_sign": ({"signs": {"damp_mould": math.nan}}, PASS),
    "not_dwelling": ({"top": "not_dwelling"}, PASS),
    "tied_with_not_dwelling": ({"top": "kitchen", "tie": "not_dwelling"}, PASS),
    "reused": ({}, PASS),  # the same photo is filed for REUSE_SOURCE too
}


REUSE_SOURCE = "FSRC"


def current_user(web: Service, username: str) -> CurrentUser:
    with session_scope(web.services.sessions) as session:
        row = session.execute(select(User).where(User.username == username)).scalar_one()
        return CurrentUser(id=row.id, username=row.username, role=row.role, region=row.region)


def file_photo(web: Service, family_id: str, seed: int, score: dict[str, Any] | None, quality: Any):
    web.create_family(family_id)
    answer = web.upload(family_id, jpeg(seed, size=(800, 600)))
    assert answer.status_code == 201, answer.text
    with session_scope(web.services.sessions) as session:
        photo = session.get(Photo, answer.json()["photo_id"])
        assert photo is not None
        photo.score = None if score is None else score_of(photo.sha256, **score)
        photo.model_version = None if score is None else "photo-test"
        photo.quality = quality


@pytest.fixture
def families(web: Service) -> Service:
    """One family per kind of photo (F-<kind>), each with that one photo."""
    for seed, (kind, (score, quality)) in enumerate(KINDS.items(), 40):
        if kind == "reused":
            file_photo(web, REUSE_SOURCE, seed, {}, PASS)
        file_photo(web, f"F-{kind}", seed, score, quality)
    return web
