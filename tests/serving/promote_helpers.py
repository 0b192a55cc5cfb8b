"""Helpers of the promotion tests: the old, new and fusion models (`promote_models`), a service
re-scored under the new one (`rescored`), and the same promoted (`promoted`); `rescore promote`
run on a config, what a promotion left behind, a model folder's version, and the rescore
command run on a service of three photos (`rescored_config`). The fixtures are registered in
tests/conftest.py; `promote_models` is not rescore_fixtures' `models` (old, new), which has
no fusion model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from serving.db.models import Assessment, AuditEntry, Family, Photo
from serving.db.session import session_scope
from serving.promote import promote
from serving.rescore import rescore
from serving.rescore_cli import app as rescore_app
from tests.serving.helpers import Service, jpeg, serving_yaml, small_fusion_model
from tests.serving.rescore_fixtures import cli_config, file_and_assess, tiny_model
from vision.artifact import read_artifact
from vision.bulk import open_scorer


@pytest.fixture(scope="module")
def promote_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(old, new, fusion): the photo model at upload, the one to promote, the fusion model."""
    root = tmp_path_factory.mktemp("models")
    fusion = small_fusion_model(root / "fusion")
    return tiny_model(root, seed=1), tiny_model(root, seed=0), fusion


@pytest.fixture
def rescored(make_service: Any, promote_models: tuple[Path, Path, Path]) -> Service:
    """F1 (two photos) assessed under the old photo model and the fusion model; every photo
    re-scored under the new photo model, not promoted yet."""
    old, new, fusion = promote_models
    service = make_service(model_dir=old, fusion_dir=fusion)
    service.create_family("F1")
    for k in range(2):
        assert service.upload("F1", jpeg(k)).status_code == 201
    made = service.client.post("/families/F1/assessments", headers=service.headers("commission"))
    assert made.status_code == 201 and made.json()["model_versions"]["fusion"] != "none"
    scorer = open_scorer(new, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
    services = service.services
    assert rescore(services.db_engine, services.store, scorer, progress=False).complete
    return service


def promotion_state(service: Service) -> tuple[list[str | None], list[tuple[int, str]], list[str]]:
    """The photos' model versions, the assessments (version, fusion), the audit's actions."""
    with service.services.sessions() as session:
        photos = list(session.execute(select(Photo.model_version).order_by(Photo.id)).scalars())
        rows = session.execute(select(Assessment).order_by(Assessment.version)).scalars()
        made = [(r.version, r.model_versions["fusion"]) for r in rows]
        actions = list(
            session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars()
        )
        return photos, made, actions


def promote_config(
    tmp_path: Path, database_url: str, name: str, *, model: Path, fusion: Path | str
) -> Path:
    """serving.yaml on the service's database and key, serving `model`, with `fusion`."""
    path = serving_yaml(tmp_path / f"{name}.yaml", tmp_path, database_url, fusion_dir=fusion)
    values = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**values, "model_dir": str(model)}))
    return path


def run_promote(config: Path, model: Path, *args: str) -> Any:
    return CliRunner().invoke(
        rescore_app,
        ["promote", "--model", str(model), "--reassess", "--as", "admin_national", *args,
         "--config", str(config), "--no-progress"],
    )  # fmt: skip


@pytest.fixture
def promoted(make_service: Any, promote_models: tuple[Path, Path, Path]) -> Service:
    """F1 and F2 (two photos each) assessed under the old photo model, every photo re-scored
    under the new one and promoted: both assessments stale. F1's record no longer validates."""
    old, new, fusion = promote_models
    service = make_service(model_dir=old, fusion_dir=fusion)
    file_and_assess(service, ("F1", "F2"))
    services = service.services
    scorer = open_scorer(new, prefer="cpu", max_pixels=50_000_000, decode_short_side=1024)
    assert rescore(services.db_engine, services.store, scorer, progress=False).complete
    promote(services.sessions, services.signing_key, model_dir=new, serving_model_dir=new,
            actor="cli")  # fmt: skip
    with session_scope(services.sessions) as session:
        family = session.get_one(Family, "F1")
        family.record = {**family.record, "criteria": {**family.record["criteria"],
                                                       "members_total": -3.0}}  # fmt: skip
    return service


def model_version_of(model: Path) -> str:
    return read_artifact(model).model_version


@pytest.fixture
def rescored_config(tmp_path: Path, model: Path) -> Path:
    """A service of 3 photos on the old model, re-scored under `model` (its model_dir)."""
    config = cli_config(tmp_path, 3, model_dir=model)
    done = run_rescore("--model", model, "--device", "cpu", "--config", config, "--no-progress")
    assert done.exit_code == 0, done.output
    return config


def run_rescore(*args: str | Path) -> Any:
    return CliRunner().invoke(rescore_app, [str(arg) for arg in args])
