"""Roles, regions and rooms each have one source; the service and the benchmarks derive theirs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import get_args

import numpy as np
from sqlalchemy import CheckConstraint


def _new_first_regions(data):
    """The shipped first regions (the old literals' karaganda_region and shymkent) replaced."""
    data["regions"] = ["ulytau_region", "abai_region", *data["regions"][2:]]


def test_every_list_of_roles_is_the_one_in_the_database_models():
    from serving.api import deps, schemas
    from serving.db import models
    from serving.web.routes.auth import LANDING

    assert deps.ROLES is models.ROLES
    assert get_args(schemas.Role) == models.ROLES
    assert set(LANDING) == set(models.ROLES)  # every role has a page to start on
    users = models.Base.metadata.tables["users"]
    check = next(
        c for c in users.constraints if isinstance(c, CheckConstraint) and c.name == "ck_users_role"
    )
    assert all(f"'{role}'" in str(check.sqltext) for role in models.ROLES)


def test_demo_regions_are_the_first_of_the_welfare_config(tmp_path, edit_config):
    from serving.db.models import User
    from serving.db.session import make_engine, make_session_factory
    from serving.demo import _create_accounts, demo_accounts, demo_regions
    from tests.serving.helpers import make_settings

    edit_config("welfare.yaml", _new_first_regions)
    assert demo_regions() == ["ulytau_region", "abai_region"]
    settings = make_settings(tmp_path, "")
    _create_accounts(settings)  # a region the config no longer has would be refused here
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        regions = {u.region for u in session.query(User)}
    engine.dispose()
    assert regions == {*demo_regions(), None}
    assert {a.region for a in demo_accounts()} == {*demo_regions(), None}


def test_bench_service_user_is_in_a_configured_region(tmp_path, edit_config):
    from benchmarks.bench_service import _prepare, _region
    from serving.core.config import Batching

    edit_config("welfare.yaml", _new_first_regions)
    assert _region() == "ulytau_region"
    _prepare(tmp_path, model_dir=tmp_path / "model", batching=Batching())  # created the user


def test_quality_curve_scenes_cover_the_taxonomy_dwelling_rooms(monkeypatch):
    import training.synth.photos as photos
    from benchmarks import quality_curves
    from shanyraq import taxonomy

    class Rendered:
        image = np.zeros((6, 8, 3), dtype=np.uint8)

    rooms: list[str] = []

    def render(spec, *, size, rng):
        rooms.append(spec.room)
        return Rendered()

    only_bedrooms = SimpleNamespace(dwelling_rooms=["bedroom"])
    monkeypatch.setattr(taxonomy, "get_taxonomy", lambda: only_bedrooms)
    monkeypatch.setattr(photos, "render_photo", render)
    quality_curves.scenes(3, seed=0, width=8)
    assert rooms == ["bedroom"] * 3
