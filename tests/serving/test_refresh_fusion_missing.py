"""Recomputing without the service's fusion model: `assessments refresh` (and the
reassessment after `rescore promote --reassess`) refuse to move assessments made with a
fusion model onto the rules alone, name the model they used, write nothing, and go ahead
only with the service's settings or --allow-rules-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from serving import reassessment
from serving.assessments_refresh import refresh
from serving.db.models import Assessment, AuditEntry
from serving.reassessment import (
    FusionModelMissingError,
    reassess,
    refuse_rules_only,
    resolve_refresh_actor,
)
from shanyraq.cli import build_app
from tests.serving.helpers import Service, criteria, serving_yaml, small_fusion_model


@pytest.fixture(scope="module")
def fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_fusion_model(tmp_path_factory.mktemp("fusion"))


@pytest.fixture
def assessed(make_service: Any, fusion_dir: Path) -> Service:
    """Two families assessed with the service's fusion model; A's record edited since, so A
    is stale and B current (for that model)."""
    service = make_service(fusion_dir=fusion_dir)
    for family_id in ("A", "B"):
        service.create_family(family_id)
        made = service.client.post(
            f"/families/{family_id}/assessments", headers=service.headers("inspector")
        )
        assert made.status_code == 201, made.text
    body = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    edited = service.client.put("/families/A", json=body, headers=service.headers("inspector"))
    assert edited.status_code == 200, edited.text
    return service


def _state(service: Service) -> tuple[list[tuple[str, int, str]], int]:
    """Every assessment (family, version, fusion model it recorded) and the audit's length."""
    with service.services.sessions() as session:
        rows = session.execute(
            select(Assessment).order_by(Assessment.family_id, Assessment.version)
        ).scalars()
        made = [(r.family_id, r.version, r.model_versions["fusion"]) for r in rows]
        return made, session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def _actor(service: Service) -> tuple[int, str]:
    with service.services.sessions() as session:
        return resolve_refresh_actor(session, "admin_national", region=None)


def test_refresh_without_a_fusion_model_is_refused_and_names_the_model_used(
    assessed: Service, fusion_dir: Path
) -> None:
    services = assessed.services
    used = services.fusion_model.meta.version
    before = _state(assessed)
    services.fusion_model = None  # as a command run without the service's fusion_dir
    with pytest.raises(FusionModelMissingError) as refused:
        refresh(services, actor=_actor(assessed), progress=False)
    assert refused.value.code == "fusion_model_missing"
    message = refused.value.message
    assert used in message and "no fusion model is configured" in message
    assert "--config" in message and "--allow-rules-only" in message
    # Refused before its start entry: nothing written, the old assessments stand.
    assert _state(assessed) == before

    # A's record change, B's stale fusion model: both would go rules-only. The override does.
    report = refresh(services, actor=_actor(assessed), progress=False, allow_rules_only=True)
    assert report.refreshed == {"record": 1, "fusion_model": 1}
    made, _ = _state(assessed)
    assert [(f, v, m) for f, v, m in made if v == 2] == [("A", 2, "none"), ("B", 2, "none")]


def test_a_site_that_allows_rules_only_in_its_settings_refreshes_without_the_flag(
    assessed: Service,
) -> None:
    services = assessed.services
    services.fusion_model = None
    services.settings.allow_rules_only = True  # allow_rules_only: true in its serving.yaml
    report = refresh(services, actor=_actor(assessed), progress=False)
    assert report.refreshed == {"record": 1, "fusion_model": 1}
    made, _ = _state(assessed)
    assert [(f, v, m) for f, v, m in made if v == 2] == [("A", 2, "none"), ("B", 2, "none")]


def test_a_refresh_under_the_service_fusion_model_goes_ahead(assessed: Service) -> None:
    services = assessed.services
    used = services.fusion_model.meta.version
    report = refresh(services, actor=_actor(assessed), progress=False)
    assert report.refreshed == {"record": 1}  # B is current for this model: left alone
    made, _ = _state(assessed)
    assert made == [("A", 1, used), ("A", 2, used), ("B", 1, used)]


def test_rules_only_assessments_are_refreshed_without_a_fusion_model() -> None:
    # Nothing to lose: assessments already on the rules alone are recomputed as before.
    refuse_rules_only(["none", "none"], fusion="none", allow_rules_only=False)
    refuse_rules_only(["lgbm_tabular-aaa"], fusion="lgbm_tabular-bbb", allow_rules_only=False)
    with pytest.raises(FusionModelMissingError, match=r"2 of the .* lgbm_tabular-aaa \(2\)"):
        refuse_rules_only(
            ["lgbm_tabular-aaa", "none", "lgbm_tabular-aaa"], fusion="none", allow_rules_only=False
        )


def test_reassess_after_a_promotion_is_refused_the_same_way(
    assessed: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = assessed.services
    before = _state(assessed)
    # The families a promotion made stale (stale_families needs re-scored photos).
    monkeypatch.setattr(reassessment, "stale_families", lambda _session, _version: ["A", "B"])
    services.fusion_model = None
    with pytest.raises(FusionModelMissingError, match="no fusion model is configured"):
        reassess(services, model_version="m", actor=_actor(assessed), progress=False)
    assert _state(assessed) == before
    made = reassess(
        services, model_version="m", actor=_actor(assessed), progress=False, allow_rules_only=True
    )
    assert made == [("A", 2), ("B", 2)]


# --- the command line -------------------------------------------------------------------------


def _config(tmp_path: Path, database_url: str, fusion_dir: Path | str, name: str) -> Path:
    """serving.yaml `name` on the service's database, data folder and key, with `fusion_dir`."""
    return serving_yaml(tmp_path / f"{name}.yaml", tmp_path, database_url, fusion_dir=fusion_dir)


def _cli(config: Path, *args: str) -> Any:
    return CliRunner().invoke(
        build_app(),
        ["assessments", "refresh", "--as", "admin_national", *args, "--config", str(config)],
    )


def test_cli_without_the_service_fusion_model_refuses_dry_run_and_run(
    assessed: Service, tmp_path: Path, database_url: str, fusion_dir: Path
) -> None:
    used = assessed.services.fusion_model.meta.version
    before = _state(assessed)
    bare = _config(tmp_path, database_url, "", "bare")
    for dry in (("--dry-run",), ()):
        refused = _cli(bare, *dry)
        assert refused.exit_code != 0, refused.output
        assert refused.exception.code == "fusion_model_missing"
        assert used in refused.exception.message
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    unloadable = _cli(_config(tmp_path, database_url, broken, "broken"))
    assert unloadable.exit_code != 0 and unloadable.exception.code == "model_mismatch"
    assert _state(assessed) == before

    own = _cli(_config(tmp_path, database_url, fusion_dir, "own"), "--dry-run")
    assert own.exit_code == 0 and "stale assessments in every region: 1" in own.output
    allowed = _config(tmp_path, database_url, "", "allowed")  # the site's own choice
    allowed.write_text(allowed.read_text() + "allow_rules_only: true\n")
    site = _cli(allowed, "--dry-run")
    assert site.exit_code == 0 and "stale assessments in every region: 2" in site.output
    forced = _cli(bare, "--allow-rules-only")
    assert forced.exit_code == 0, forced.output
    assert "refreshed 2 of 2 stale assessment(s)" in forced.output
