"""The scene of the `assessments refresh` tests: families made stale for each reason
`stale_reason` knows, one current and one never assessed, what the tests read of them, and the
command line run on its database. Its fixtures (the scene, and the fusion model deployed
after it was assessed) are registered in tests/conftest.py; the fusion model it was assessed
with is the registered `fusion_dir` of tests/web/fusion_model_fixtures.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.assessments import fusion_version, is_current
from serving.db.models import Assessment, AuditEntry, Family
from serving.db.session import session_scope
from serving.latest_assessments import latest
from serving.reassessment import resolve_refresh_actor
from tests.serving.helpers import (
    OTHER_REGION,
    Service,
    criteria,
    jpeg,
    serving_yaml,
    small_fusion_model,
)

# The scene's stale families and why each is stale; CUR is current and NEW never assessed.
STALE = {
    "CFG": "welfare_config",  # assessed before a level-6 rule changed
    "FUS": "fusion_model",  # assessed with the fusion model the service used before
    "OTH": "record",  # OTHER_REGION; record edited after its assessment
    "PHO": "photos",  # a photo uploaded after its assessment
    "REC": "record",  # record edited after its assessment
}
ASSESSED = sorted([*STALE, "CUR"])


@pytest.fixture(scope="module")
def new_fusion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fusion model a site deploys after FUS was assessed: another version."""
    return small_fusion_model(tmp_path_factory.mktemp("new_fusion"), seed=1)


def raise_level6_min_vehicles(data: dict[str, Any]) -> None:
    """A decisive edit (a rule's threshold: `rules` decide what an assessment says) that neither
    the fusion model's feature basis nor its label basis (the poverty line) records, so the
    model trained before it still loads."""
    data["rules"]["level6"]["min_vehicles"] += 1


def edit_record(service: Service, family_id: str, *, who: str = "inspector") -> None:
    body = {"criteria": criteria(per_capita_income_kzt=31000.0)}
    edited = service.client.put(f"/families/{family_id}", json=body, headers=service.headers(who))
    assert edited.status_code == 200, edited.text


@pytest.fixture
def scene(make_service: Any, fusion_dir: Path, new_fusion_dir: Path, edit_config: Any) -> Service:
    """Families made stale for each reason `stale_reason` knows, one current, one unassessed."""
    from welfare.fusion import FusionModel

    service = make_service(fusion_dir=fusion_dir)
    service.create_family("FUS")
    service.assess("FUS", who="inspector")
    # As after a restart with a new fusion model (a site deploying one).
    service.services.fusion_model = FusionModel.load(new_fusion_dir)
    assert fusion_version(service.services) != FusionModel.load(fusion_dir).meta.version
    service.create_family("CFG")
    service.assess("CFG", who="inspector")
    edit_config("welfare.yaml", raise_level6_min_vehicles)
    for family_id in ("CUR", "PHO", "REC"):
        service.create_family(family_id)
        service.assess(family_id, who="inspector")
    service.create_family("OTH", region=OTHER_REGION)
    service.assess("OTH", who="admin_national")
    service.create_family("NEW")
    edit_record(service, "REC")
    edit_record(service, "OTH", who="admin_national")
    assert service.upload("PHO", jpeg(1)).status_code == 201
    return service


def assessment_versions(service: Service) -> dict[str, list[int]]:
    """Each family's assessment versions, oldest first (a family never assessed is absent)."""
    found: dict[str, list[int]] = {}
    with service.services.sessions() as session:
        for row in session.execute(select(Assessment).order_by(Assessment.version)).scalars():
            found.setdefault(row.family_id, []).append(row.version)
    return found


def audit_entries(service: Service) -> list[AuditEntry]:
    with service.services.sessions() as session:
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def refresh_actor(service: Service, username: str, region: str | None = None) -> tuple[int, str]:
    with service.services.sessions() as session:
        return resolve_refresh_actor(session, username, region=region)


def all_current(service: Service) -> bool:
    """Whether every assessed family's latest assessment is current."""
    services = service.services
    with services.sessions() as session:
        return all(
            is_current(session, latest(session, f.id), f, fusion=fusion_version(services))  # type: ignore[arg-type]
            for f in session.execute(select(Family).where(Family.id.in_(ASSESSED))).scalars()
        )


def cli_config(tmp_path: Path, database_url: str, fusion_dir: Path) -> Path:
    """serving.yaml for the command, on the scene's database, data folder and signing key,
    with the scene service's fusion model."""
    return serving_yaml(
        tmp_path / "serving-cli.yaml", tmp_path, database_url, fusion_dir=fusion_dir
    )


def run_cli(config: Path, *args: str) -> Any:
    """`shanyraq *args --config config`, in this process."""
    from typer.testing import CliRunner

    from shanyraq.cli import build_app

    return CliRunner().invoke(build_app(), [*args, "--config", str(config)])


def one_record_unreadable(service: Service, edit_config: Any) -> None:
    """Four families assessed, then made stale by a welfare threshold; BAD's stored record no
    longer validates (as after an update that narrows a criterion's range)."""
    for family_id in ("A1", "BAD", "C1", "D1"):
        service.create_family(family_id)
        service.assess(family_id, who="inspector")
    edit_config(
        "welfare.yaml",
        lambda d: d["thresholds"].update(
            poverty_line_kzt=d["thresholds"]["poverty_line_kzt"] + 1000
        ),
    )
    with session_scope(service.services.sessions) as session:
        family = session.get_one(Family, "BAD")
        record = dict(family.record)
        record["criteria"] = {**record["criteria"], "members_total": -3.0}
        family.record = record
