"""`assessments refresh --dry-run` counts the assessments stale for their repeats, as the refresh
then recomputes them.

The refresh asks every family's repeats of the service's reuse index; its dry run builds no
service, so it asked none: it announced fewer stale assessments than the refresh then made.
It now reads the same index, from the stored photos, without writing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from serving.assessments import STALE_REASONS
from shanyraq.cli import build_app
from tests.serving.helpers import serving_yaml
from tests.serving.repeat_helpers import latest_version, record_repeats


def _dry_run(tmp_path: Path, database_url: str) -> Any:
    config = serving_yaml(tmp_path / "serving-cli.yaml", tmp_path, database_url, fusion_dir="")
    args = ["assessments", "refresh", "--as", "admin_national", "--dry-run"]
    return CliRunner().invoke(build_app(), [*args, "--config", str(config)])


def test_the_dry_run_counts_assessments_stale_for_their_repeats(
    with_repeat: Any,
    tmp_path: Path,
    database_url: str,
):
    service, _, made = with_repeat
    record_repeats(service, made["assessment_id"], None)  # it counted the copy as a photo

    dry = _dry_run(tmp_path, database_url)
    assert dry.exit_code == 0, dry.output
    assert "stale assessments in every region: 1" in dry.output
    assert f"  repeats: 1 ({STALE_REASONS['repeats']})" in dry.output
    assert "nothing was written" in dry.output
    assert latest_version(service, "F1").version == made["version"]  # nothing recomputed


def test_the_dry_run_finds_none_where_the_repeats_match(
    with_repeat: Any,
    tmp_path: Path,
    database_url: str,
):
    dry = _dry_run(tmp_path, database_url)
    assert dry.exit_code == 0, dry.output
    assert "stale assessments in every region: 0" in dry.output
