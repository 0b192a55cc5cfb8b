"""The demo seeding: accounts sign in, synthetic families arrive through the API, scored."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from serving.core.config import load_serving_settings
from serving.demo import (
    DEMO_PASSWORD,
    demo_accounts,
    demo_regions,
    demo_settings,
    seed_demo,
    write_demo_settings,
)
from serving.demo_build import DemoPaths
from shanyraq.cli import build_app
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import ROOT, make_settings, small_fusion_model


@pytest.mark.slow
def test_seed_demo_through_the_api(tmp_path):
    from serving.app import create_app
    from tests.vision.engine_fixtures import make_artifact

    model = make_artifact(tmp_path / "model", get_taxonomy(), seed=3)
    settings = make_settings(tmp_path, "", model_dir=model)
    uploaded = seed_demo(settings, n_families=8, seed=1)
    assert uploaded > 0
    assert seed_demo(settings, n_families=8, seed=1) == 0  # seeded once, not twice

    with TestClient(create_app(settings)) as client:
        for account in demo_accounts():
            token = client.post(
                "/auth/token", data={"username": account.username, "password": DEMO_PASSWORD}
            )
            assert token.status_code == 200, account
        commission = next(a for a in demo_accounts() if a.role == "commission")
        token = client.post(
            "/auth/token", data={"username": commission.username, "password": DEMO_PASSWORD}
        ).json()["access_token"]
        families = client.get("/families", headers={"Authorization": f"Bearer {token}"}).json()
        assert families and {f["region"] for f in families} == {commission.region}
        assert commission.region in demo_regions()
        photos = client.get(
            f"/families/{families[0]['family_id']}/photos",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert photos and all(p["score"] is not None for p in photos)
        latest = client.get(
            f"/families/{families[0]['family_id']}/assessments/latest",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert latest.status_code == 200  # assessed at seeding, before anyone opened it


def _no_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SHANYRAQ_SERVING__")]:
        monkeypatch.delenv(name)


@pytest.mark.slow
def test_demo_settings_file_points_other_commands_at_the_demo(tmp_path, monkeypatch):
    """The demo writes the settings it serves with to var/demo/serving.yaml; `--config` on
    it gives other commands, run from any folder, the demo's database and models."""
    from tests.vision.engine_fixtures import make_artifact

    _no_service_env(monkeypatch)
    model = make_artifact(tmp_path / "model", get_taxonomy(), seed=3)
    fusion = small_fusion_model(tmp_path / "fusion")
    paths = DemoPaths(
        model_dir=model, fusion_root=tmp_path / "fusion", fusion_model=fusion.name,
        data_dir=Path("var/demo"),
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the demo's paths are relative to where it runs
    settings, config = demo_settings(paths, port=8123)
    assert config == Path("var/demo/serving.yaml")
    assert stat.S_IMODE((tmp_path / "var" / "demo").stat().st_mode) == 0o700  # made private
    loaded = load_serving_settings(tmp_path / config)  # what --config reads
    assert (loaded.host, loaded.port) == ("127.0.0.1", 8123)
    assert loaded.data_dir == tmp_path / "var" / "demo"
    assert (loaded.model_dir, loaded.fusion_dir) == (model.resolve(), fusion.resolve())
    assert loaded.resolved_database_url == settings.resolved_database_url
    seed_demo(settings, n_families=4, seed=1)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    runner, app = CliRunner(), build_app()
    verified = runner.invoke(app, ["audit", "verify", "--config", str(tmp_path / config)])
    assert verified.exit_code == 0, verified.output
    assert "audit log intact" in verified.output
    # Same fusion model and rules as the demo served with: nothing is stale.
    dry = runner.invoke(
        app, ["assessments", "refresh", "--as", "admin", "--dry-run", "--config",
              str(tmp_path / config)],
    )  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "stale assessments in every region: 0" in dry.output


def test_demo_settings_keep_no_site_key_or_anchor(tmp_path, monkeypatch):
    """A site's secret_key and audit anchor in configs/serving.yaml are not copied: the demo's
    database has its own key and anchor in its data folder."""
    configs = tmp_path / "configs"
    configs.mkdir()
    site = yaml.safe_load((ROOT / "configs" / "serving.yaml").read_text())
    site |= {"secret_key": "site-secret-0123456789abcdef-0123", "audit_anchor_file": "/srv/a.log"}
    (configs / "serving.yaml").write_text(yaml.safe_dump(site))
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(configs))
    paths = DemoPaths(
        model_dir=tmp_path / "m", fusion_root=tmp_path / "f", fusion_model="lgbm_tabular",
        data_dir=tmp_path / "demo",
    )  # fmt: skip
    written = yaml.safe_load(write_demo_settings(paths).read_text())
    assert "secret_key" not in written and "audit_anchor_file" not in written
    assert written["rate_limits"] == site["rate_limits"]  # the rest is the site's file
    assert written["fusion_dir"] == str(tmp_path / "f" / "lgbm_tabular")
