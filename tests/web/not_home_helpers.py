"""Helpers of the tests of a photo the model said is not a home: the positive control made a
home in the database, and a stored photo read back."""

from __future__ import annotations

from typing import Any

from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import Service


def make_a_home(service: Service, photo_id: int) -> None:
    """As if the model had found a kitchen: the positive control beside the other photo."""
    from serving.db.models import Photo
    from serving.db.session import session_scope

    with session_scope(service.services.sessions) as session:
        photo = session.get_one(Photo, photo_id)
        score = dict(photo.score or {})
        rooms = {name: 0.0 for name in score["room"]}
        score.update(room={**rooms, "kitchen": 0.9, get_taxonomy().not_dwelling: 0.1})
        score.update(abstain=False, abstain_reasons=[])
        photo.score = score


def stored_photo(service: Service, photo_id: int) -> Any:
    from serving.db.models import Photo

    with service.services.sessions() as session:
        photo = session.get_one(Photo, photo_id)
        session.expunge(photo)
        return photo
