"""`rescore promote --reassess` without the service's fusion model, while the assessments it
would recompute rest on one: refused (fusion_model_missing) before anything is promoted, and
its dry run is refused the same way; with the service's fusion model it goes ahead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.serving.helpers import Service
from tests.serving.promote_helpers import promote_config, promotion_state, run_promote
from vision.artifact import read_artifact


def _refused(service: Service, answer: Any) -> None:
    """`answer` is the refusal fusion_model_missing, naming the model the assessment used."""
    assert answer.exit_code != 0, answer.output
    assert answer.exception.code == "fusion_model_missing", answer.output
    assert service.services.fusion_model.meta.version in answer.exception.message


def test_promote_reassess_without_the_fusion_model_is_refused_before_promoting(
    rescored: Service, tmp_path: Path, database_url: str, promote_models: tuple[Path, Path, Path]
) -> None:
    _, new, fusion = promote_models
    used = rescored.services.fusion_model.meta.version
    before = promotion_state(rescored)
    _refused(
        rescored,
        run_promote(promote_config(tmp_path, database_url, "bare", model=new, fusion=""), new),
    )
    assert promotion_state(rescored) == before  # nothing promoted, assessed or audited

    done = run_promote(promote_config(tmp_path, database_url, "own", model=new, fusion=fusion), new)
    assert done.exit_code == 0, done.output
    assert "reassessed 1 family(ies)" in done.output
    photos, made, actions = promotion_state(rescored)
    assert set(photos) == {read_artifact(new).model_version} and made == [(1, used), (2, used)]
    assert "scores_promoted" in actions


def test_promote_reassess_dry_run_is_refused_as_the_run_would_be(
    rescored: Service, tmp_path: Path, database_url: str, promote_models: tuple[Path, Path, Path]
) -> None:
    _, new, fusion = promote_models
    before = promotion_state(rescored)
    bare = promote_config(tmp_path, database_url, "bare", model=new, fusion="")
    _refused(rescored, run_promote(bare, new, "--dry-run"))
    forced = run_promote(bare, new, "--dry-run", "--allow-rules-only")
    assert forced.exit_code == 0 and "would promote" in forced.output, forced.output
    own = run_promote(
        promote_config(tmp_path, database_url, "own", model=new, fusion=fusion), new, "--dry-run"
    )
    assert own.exit_code == 0 and "would promote" in own.output, own.output
    assert promotion_state(rescored) == before
