"""Review 20 of the demo's messages (helper-331): a --families that puts no family in the
demo's regions is refused before anything is written, one that leaves a demo region empty is
warned about, and an inspector who cannot sign in is named with the service's answer."""

from __future__ import annotations

import re

import pytest

import serving.db.session as db_session
from serving.demo import _create_accounts, demo_regions, seed_demo
from serving.users import reset_password
from shanyraq.errors import CommandUsageError, ShanyraqError
from tests.serving.helpers import make_settings
from training.synth.families import generate_families

# Seed 7: its first 4 families are in no demo region, its 5th in one of them, its 6th in the
# other (7 photos in the demo regions then); checked by test_the_seed_7_plan_holds.
SEED = 7


def _regions(n_families: int) -> set[str]:
    return set(generate_families(n_families, seed=SEED).table["region"]) & set(demo_regions())


def test_the_seed_7_plan_holds():
    assert [len(_regions(n)) for n in (4, 5, 6)] == [0, 1, 2]


@pytest.mark.parametrize("n_families", [3, 0])
def test_families_that_miss_the_demo_regions_are_refused_before_anything_is_written(
    tmp_path, n_families
):
    # Before: 3 filed nothing, marked the demo seeded and said nothing; 0 was a ValueError.
    settings = make_settings(tmp_path, "")
    with pytest.raises(CommandUsageError) as refused:
        seed_demo(settings, n_families=n_families, seed=SEED)
    message = refused.value.message
    assert f"--families {n_families} " in message
    assert all(region in message for region in demo_regions())
    assert not settings.data_dir.exists() or not any(settings.data_dir.iterdir())
    # The --families it names is the smallest that gives each demo region a family.
    enough = int(re.findall(r"--families (\d+)", message)[-1])
    assert len(_regions(enough)) == len(demo_regions()) > len(_regions(enough - 1))


def test_a_demo_region_left_without_families_is_warned_about(tmp_path, caplog):
    # Before: seeded silently; the second region's accounts saw an empty list.
    settings = make_settings(tmp_path, "")
    with caplog.at_level("WARNING", logger="serving.demo"):
        seed_demo(settings, n_families=5, seed=SEED)
    (empty,) = set(demo_regions()) - _regions(5)
    said = " ".join(r.getMessage() for r in caplog.records if r.name == "serving.demo")
    assert empty in said and "--families 6" in said
    assert (settings.data_dir / "demo-seeded").exists()


def test_the_demo_seeds_under_a_login_limit_of_one_a_minute(tmp_path):
    # Before: the second inspector's sign-in was refused (429): KeyError 'access_token'.
    settings = make_settings(tmp_path, "", rate_limits={"login_per_minute": 1})
    assert seed_demo(settings, n_families=6, seed=SEED) > 0
    assert settings.rate_limits.login_per_minute == 1  # the site's settings are left as they are


def test_an_inspector_who_cannot_sign_in_is_named_with_the_answer(tmp_path):
    # Before: a changed password ended the seeding with KeyError: 'access_token'.
    settings = make_settings(tmp_path, "")
    _create_accounts(settings)
    inspector = f"inspector.{demo_regions()[0].split('_')[0]}"
    engine = db_session.make_engine(settings.resolved_database_url)
    try:
        with db_session.session_scope(db_session.make_session_factory(engine)) as session:
            reset_password(session, username=inspector, password="changed-by-the-site-1")
    finally:
        engine.dispose()
    with pytest.raises(ShanyraqError) as refused:
        seed_demo(settings, n_families=6, seed=SEED)
    assert refused.value.code == "demo_sign_in"
    message = refused.value.message
    assert inspector in message and "HTTP 401" in message and "set-password" in message
    assert not (settings.data_dir / "demo-seeded").exists()


def test_shanyraq_demo_refuses_such_families_before_building_models(tmp_path, monkeypatch):
    # Before: `shanyraq demo --families 3` built the models (minutes), then seeded nothing.
    from typer.testing import CliRunner

    from shanyraq.cli import build_app

    monkeypatch.chdir(tmp_path)  # the demo's paths are relative to where it runs
    result = CliRunner().invoke(build_app(), ["demo", "--families", "0", "--no-serve"])
    assert result.exit_code == 2, result.output
    assert "error [usage_error]: --families 0 puts no family in" in result.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "artifacts").exists()
