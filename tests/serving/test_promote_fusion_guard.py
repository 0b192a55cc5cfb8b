"""`rescore promote --reassess` without the service's fusion model, while the assessments it
would recompute rest on one: refused (fusion_model_missing) before anything is promoted, and
its dry run is refused the same way; with the service's fusion model it goes ahead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from serving.db.models import Assessment, AuditEntry, Photo
from serving.rescore import rescore
from serving.rescore_cli import app as rescore_app
from tests.serving.helpers import Service, jpeg, serving_yaml, small_fusion_model
from tests.serving.rescore_fixtures import tiny_model
from vision.artifact import read_artifact
from vision.bulk import open_scorer


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(old, new, fusion): the photo model at upload, the one to promote, the fusion model."""
    root = tmp_path_factory.mktemp("models")
    fusion = small_fusion_model(root / "fusion")
    return tiny_model(root, seed=1), tiny_model(root, seed=0), fusion


@pytest.fixture
def rescored(make_service: Any, models: tuple[Path, Path, Path]) -> Service:
    """F1 (two photos) assessed under the old photo model and the fusion model; every photo
    re-scored under the new photo model, not promoted yet."""
    old, new, fusion = models
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


def _state(service: Service) -> tuple[list[str | None], list[tuple[int, str]], list[str]]:
    """The photos' model versions, the assessments (version, fusion), the audit's actions."""
    with service.services.sessions() as session:
        photos = list(session.execute(select(Photo.model_version).order_by(Photo.id)).scalars())
        rows = session.execute(select(Assessment).order_by(Assessment.version)).scalars()
        made = [(r.version, r.model_versions["fusion"]) for r in rows]
        actions = list(
            session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars()
        )
        return photos, made, actions


def _config(
    tmp_path: Path, database_url: str, name: str, *, model: Path, fusion: Path | str
) -> Path:
    """serving.yaml on the service's database and key, serving `model`, with `fusion`."""
    path = serving_yaml(tmp_path / f"{name}.yaml", tmp_path, database_url, fusion_dir=fusion)
    values = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**values, "model_dir": str(model)}))
    return path


def _promote(config: Path, model: Path, *args: str) -> Any:
    return CliRunner().invoke(
        rescore_app,
        ["promote", "--model", str(model), "--reassess", "--as", "admin_national", *args,
         "--config", str(config), "--no-progress"],
    )  # fmt: skip


def _refused(service: Service, answer: Any) -> None:
    """`answer` is the refusal fusion_model_missing, naming the model the assessment used."""
    assert answer.exit_code != 0, answer.output
    assert answer.exception.code == "fusion_model_missing", answer.output
    assert service.services.fusion_model.meta.version in answer.exception.message


def test_promote_reassess_without_the_fusion_model_is_refused_before_promoting(
    rescored: Service, tmp_path: Path, database_url: str, models: tuple[Path, Path, Path]
) -> None:
    _, new, fusion = models
    used = rescored.services.fusion_model.meta.version
    before = _state(rescored)
    _refused(rescored, _promote(_config(tmp_path, database_url, "bare", model=new, fusion=""), new))
    assert _state(rescored) == before  # nothing promoted, assessed or audited

    done = _promote(_config(tmp_path, database_url, "own", model=new, fusion=fusion), new)
    assert done.exit_code == 0, done.output
    assert "reassessed 1 family(ies)" in done.output
    photos, made, actions = _state(rescored)
    assert set(photos) == {read_artifact(new).model_version} and made == [(1, used), (2, used)]
    assert "scores_promoted" in actions


def test_promote_reassess_dry_run_is_refused_as_the_run_would_be(
    rescored: Service, tmp_path: Path, database_url: str, models: tuple[Path, Path, Path]
) -> None:
    _, new, fusion = models
    before = _state(rescored)
    bare = _config(tmp_path, database_url, "bare", model=new, fusion="")
    _refused(rescored, _promote(bare, new, "--dry-run"))
    forced = _promote(bare, new, "--dry-run", "--allow-rules-only")
    assert forced.exit_code == 0 and "would promote" in forced.output, forced.output
    own = _promote(
        _config(tmp_path, database_url, "own", model=new, fusion=fusion), new, "--dry-run"
    )
    assert own.exit_code == 0 and "would promote" in own.output, own.output
    assert _state(rescored) == before
