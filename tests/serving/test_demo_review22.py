"""Review 22 of the demo's start after the configs changed (helper p433): the fusion model is
trained again when configs/welfare.yaml changed what it is trained on (and only then), demo
accounts of regions gone from the configs are disabled, and demo-source removed after a
seeding cut short filed families no longer lets a changed render be filed beside them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import serving.demo as demo
from serving import demo_build
from serving.demo import DEMO_PASSWORD, DemoSeedMismatchError, seed_demo
from serving.demo_build import DemoPaths
from serving.demo_models import stale_because
from shanyraq.cli import build_app
from tests.serving.demo_helpers import interrupt_on, raise_poverty_line
from tests.serving.helpers import make_settings, serving_yaml
from tests.web.demo_helpers import demo_filed
from welfare.model_folder import read_meta

# Seed 7, 6 families: one family in each demo region (karaganda_region, shymkent), 7 photos.
N_FAMILIES, SEED = 6, 7


# --- the fusion model after configs/welfare.yaml changed -------------------------------------


def _version(paths: DemoPaths) -> str:
    return read_meta(paths.fusion_dir).version


def test_unchanged_configs_train_the_fusion_model_once(demo_paths, work, edit_config):
    demo_build.ensure_models(demo_paths)
    first = _version(demo_paths)
    assert work == {"trained": 1, "generated": 1}
    demo_build.ensure_models(demo_paths)  # found current under these configs: not even generated
    assert work == {"trained": 1, "generated": 1} and _version(demo_paths) == first
    # Without the note of that check (the demo's data folder removed), it is checked again
    # against the families the configs generate, and still not trained again.
    shutil.rmtree(demo_paths.data_dir)
    demo_build.ensure_models(demo_paths)
    assert work == {"trained": 1, "generated": 2} and _version(demo_paths) == first
    demo_build.ensure_models(demo_paths)
    assert work == {"trained": 1, "generated": 2}
    # A region gone changes the configs but not the families' features and labels: the model
    # it would train is this one.
    edit_config("welfare.yaml", _first_region_gone)
    demo_build.ensure_models(demo_paths)
    assert work == {"trained": 1, "generated": 3} and _version(demo_paths) == first


def _no_settlement_feature(data: dict[str, Any]) -> None:
    data["fusion"]["context_features"] = []


def _another_tenure(data: dict[str, Any]) -> None:
    """A category no synthetic family has: the data of the model's features are the same."""
    tenure = next(c for c in data["criteria"] if c["name"] == "housing_tenure")
    tenure["categories"].append("dormitory")


def _first_region_gone(data: dict[str, Any]) -> None:
    data["regions"].remove("karaganda_region")


def _more_trees(data: dict[str, Any]) -> None:
    data["fusion"]["lightgbm"]["n_estimators"] = 50


def _more_families(data: dict[str, Any]) -> None:
    data["fusion"]["n_families"] = 500


@pytest.mark.parametrize(
    ("change", "said"),
    [
        pytest.param(
            raise_poverty_line,
            "its ASP labels were drawn under the poverty line 32,360 KZT (configs/welfare.yaml "
            "thresholds.poverty_line_kzt is 37,360 KZT now)",
            id="_poverty_line-said0",  # the test id it has always had, kept for run histories
        ),
        (_no_settlement_feature, "the fusion recipe's context_features changed"),
        (_another_tenure, "its features differ from the configs' (1 added (housing_tenure=dorm"),
        (_more_trees, "the fusion recipe's lightgbm changed"),
        (
            _more_families,
            "it was trained on 400 synthetic families of seed 0, the recipe asks for 500 of seed 0",
        ),
    ],
)
def test_a_changed_welfare_config_trains_the_fusion_model_again(
    demo_paths, work, edit_config, caplog, change, said
):
    # Before: the model was trained only when missing: the demo served one trained under
    # the old configs (other labels, features or recipe) without a word.
    demo_build.ensure_models(demo_paths)
    before = read_meta(demo_paths.fusion_dir)
    edit_config("welfare.yaml", change)
    with caplog.at_level("INFO", logger="serving.demo_models"):
        demo_build.ensure_models(demo_paths)
    assert work["trained"] == 2
    assert f"was trained under other configs than now: {said}" in caplog.text
    after = read_meta(demo_paths.fusion_dir)
    assert after.version != before.version
    assert stale_because(demo_paths.fusion_dir, after, _config()) is None
    demo_build.ensure_models(demo_paths)  # the new model is current: not trained a third time
    assert work["trained"] == 2


def test_models_trained_beside_it_on_the_old_families_are_named_with_a_way_out(
    demo_paths, work, edit_config
):
    # `welfare train` (every model into artifacts/welfare), then configs/welfare.yaml edited:
    # the demo's model alone cannot be trained again beside the others (welfare evaluate
    # refuses such a mix). Said without welfare train's --model and --out, which `shanyraq
    # demo` lacks.
    from serving.demo_models import DemoFusionMixError
    from welfare.train import train_models

    names = ["lgbm_tabular", "rf_tabular"]
    train_models(demo_paths.fusion_root, n=400, seed=0, names=names, config=_config())
    first = _version(demo_paths)
    demo_build.ensure_models(demo_paths)  # trained on the configs' families: kept
    assert work["trained"] == 1
    edit_config("welfare.yaml", raise_poverty_line)
    with pytest.raises(DemoFusionMixError) as refused:
        demo_build.ensure_models(demo_paths)
    message = refused.value.message
    assert f"{demo_paths.fusion_root} also holds rf_tabular" in message
    assert f"`shanyraq welfare train --overwrite --out {demo_paths.fusion_root}`" in message
    assert _version(demo_paths) == first


def _config() -> Any:
    from welfare.criteria import get_welfare_config

    return get_welfare_config()


# --- demo accounts of a region gone from configs/welfare.yaml --------------------------------


def _sign_in(settings: Any, username: str) -> int:
    from fastapi.testclient import TestClient

    from serving.app import create_app

    with TestClient(create_app(settings)) as client:
        answer = client.post("/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    return answer.status_code


def _audit_intact(tmp_path: Path) -> str:
    config = serving_yaml(tmp_path / "serving.yaml", tmp_path, "", fusion_dir="")
    result = CliRunner().invoke(build_app(), ["audit", "verify", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_accounts_of_a_region_gone_are_disabled_and_back_with_it(
    tmp_path, edit_config, caplog
):
    # Before: inspector.karaganda, unlisted by the demo once karaganda_region left the
    # configs, still signed in with the published password and read that region's families.
    settings = make_settings(tmp_path, "")
    assert seed_demo(settings, n_families=N_FAMILIES, seed=SEED) > 0
    edit_config("welfare.yaml", _first_region_gone)
    with caplog.at_level("WARNING", logger="serving"):
        assert seed_demo(settings, n_families=N_FAMILIES, seed=SEED) == 0
    for name in ("inspector.karaganda", "commission.karaganda"):
        assert f"demo account {name} disabled" in caplog.text
        assert _sign_in(settings, name) == 401
    # The demo now lists almaty_city's accounts: made, with no families (and it says so).
    assert "made the demo accounts inspector.almaty, commission.almaty" in caplog.text
    assert _sign_in(settings, "inspector.almaty") == 200
    assert _sign_in(settings, "inspector.shymkent") == 200
    assert "audit log intact" in _audit_intact(tmp_path)

    caplog.clear()
    edit_config("welfare.yaml", lambda data: data["regions"].insert(0, "karaganda_region"))
    with caplog.at_level("WARNING", logger="serving"):
        seed_demo(settings, n_families=N_FAMILIES, seed=SEED)
    assert "demo account inspector.karaganda enabled again" in caplog.text
    assert _sign_in(settings, "inspector.karaganda") == 200
    assert "audit log intact" in _audit_intact(tmp_path)


def test_an_account_disabled_by_someone_else_is_left_disabled(tmp_path, edit_config):
    from serving import audit
    from serving.db.models import User
    from serving.db.session import make_engine, make_session_factory, session_scope

    settings = make_settings(tmp_path, "")
    demo._create_accounts(settings)
    edit_config("welfare.yaml", _first_region_gone)
    demo._create_accounts(settings)  # disables karaganda's
    edit_config("welfare.yaml", lambda data: data["regions"].insert(0, "karaganda_region"))
    engine = make_engine(settings.resolved_database_url)
    try:  # an operator disables inspector.karaganda meanwhile (`users disable`: already)
        with session_scope(make_session_factory(engine)) as session:
            audit.append(session, settings.signing_key(), actor="cli", action="user_disabled",
                         target="user:inspector.karaganda", details={"changed": False})  # fmt: skip
    finally:
        engine.dispose()
    demo._create_accounts(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            active = {u.username: u.active for u in session.query(User)}
    finally:
        engine.dispose()
    assert active["inspector.karaganda"] is False  # the operator's disabling stands
    assert active["commission.karaganda"] is True  # the demo's own is undone


# --- demo-source removed after a seeding cut short filed families ----------------------------


def _stored(settings: Any) -> set[tuple[str, str]]:
    """The (family, photo sha256) pairs in the demo's database."""
    from sqlalchemy import select

    from serving.db.models import Photo
    from serving.db.session import make_engine, make_session_factory, session_scope

    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return {(f, s) for f, s in session.execute(select(Photo.family_id, Photo.sha256))}
    finally:
        engine.dispose()


def _cut_short_after_the_first_family(settings: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    with monkeypatch.context() as patched:
        interrupt_on(patched, demo, "_upload_photos", 2)
        with pytest.raises(KeyboardInterrupt):
            seed_demo(settings, n_families=N_FAMILIES, seed=SEED)
    filed = len(_stored(settings))
    assert filed > 0
    return filed


def test_a_changed_render_is_refused_even_with_demo_source_removed(
    tmp_path, monkeypatch, edit_config
):
    # Before: with demo-source gone, nothing told the new render from the one the families
    # were filed from: its photos (other bytes) were filed beside the first family's.
    settings = make_settings(tmp_path, "")
    before = _cut_short_after_the_first_family(settings, monkeypatch)
    edit_config("synth.yaml", lambda data: data["photos"].update(jpeg_quality=[60, 95]))
    shutil.rmtree(settings.data_dir / "demo-source")
    with pytest.raises(DemoSeedMismatchError):
        seed_demo(settings, n_families=N_FAMILIES, seed=SEED)
    assert len(_stored(settings)) == before  # nothing mixed in
    assert not (settings.data_dir / demo.SEED_MARKER).exists()


def test_demo_source_removed_under_the_same_configs_is_rendered_again(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, "")
    filed = _cut_short_after_the_first_family(settings, monkeypatch)
    shutil.rmtree(settings.data_dir / "demo-source")
    assert seed_demo(settings, n_families=N_FAMILIES, seed=SEED) > 0
    planned, stored, _ = demo_filed(settings)
    assert stored == planned and len(stored) > filed  # the same photos: none twice
    record = json.loads((settings.data_dir / "demo-source.json").read_text())
    assert record["generator"] == "families"
