"""`shanyraq assessments refresh` on the command line: a dry run that writes nothing, then the
refresh, then nothing left, on an intact audit chain; non-admins and regional admins outside
their region refused, dry run or not."""

from __future__ import annotations

from tests.serving.helpers import OTHER_REGION, REGION
from tests.serving.refresh_scene import (
    STALE,
    assessment_versions,
    audit_entries,
    cli_config,
    run_cli,
)

# The scene's families, on the service with its fusion models: `scene` and `new_fusion_dir`
# (tests/serving/refresh_scene.py), registered in tests/conftest.py.


def test_cli_dry_run_then_refresh_then_nothing_left_and_the_chain_verifies(
    scene, tmp_path, database_url, new_fusion_dir
):
    config = cli_config(tmp_path, database_url, new_fusion_dir)
    versions, entries = assessment_versions(scene), len(audit_entries(scene))
    dry = run_cli(config, "assessments", "refresh", "--as", "admin_national", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "stale assessments in every region: 5" in dry.output
    for reason, n in (("record", 2), ("photos", 1), ("fusion_model", 1), ("welfare_config", 1)):
        assert f"  {reason}: {n} (" in dry.output
    assert "nothing was written" in dry.output
    assert assessment_versions(scene) == versions and len(audit_entries(scene)) == entries

    done = run_cli(config, "assessments", "refresh", "--as", "admin_national", "--progress")
    assert done.exit_code == 0, done.output
    assert "refreshed 5 of 5 stale assessment(s) in every region" in done.output
    assert "  record: 2 (the family's record changed)" in done.output
    assert "refreshing: 100%" in done.output  # the bar, asked for
    assert assessment_versions(scene) == {f: [1, 2] for f in STALE} | {"CUR": [1]}
    run = audit_entries(scene)[-1]
    assert (run.action, run.actor) == ("assessments_refreshed", "admin_national")
    assert run.details["refreshed"] == {
        "record": 2, "photos": 1, "fusion_model": 1, "welfare_config": 1
    }  # fmt: skip

    again = run_cli(config, "assessments", "refresh", "--as", "admin_national")
    assert again.exit_code == 0, again.output
    assert "refreshed 0 of 0 stale assessment(s)" in again.output
    assert "refreshing" not in again.output  # no bar by default where stderr is no terminal
    assert assessment_versions(scene) == {f: [1, 2] for f in STALE} | {"CUR": [1]}
    verified = run_cli(config, "audit", "verify")
    assert verified.exit_code == 0 and "audit log intact" in verified.output, verified.output


def test_cli_refuses_non_admins_and_regional_admins_outside_their_region(
    scene, tmp_path, database_url, new_fusion_dir
):
    config = cli_config(tmp_path, database_url, new_fusion_dir)
    versions, entries = assessment_versions(scene), len(audit_entries(scene))
    refusals = {
        ("--as", "commission"): "reassess_actor_invalid",
        ("--as", "admin", "--region", OTHER_REGION): "refresh_region_forbidden",
        ("--as", "admin"): "refresh_region_forbidden",  # every region is more than its own
    }
    for args, code in refusals.items():
        for dry in ((), ("--dry-run",)):
            refused = run_cli(config, "assessments", "refresh", *args, *dry)
            assert refused.exit_code != 0 and refused.exception.code == code, refused.output
    assert assessment_versions(scene) == versions and len(audit_entries(scene)) == entries

    own = run_cli(config, "assessments", "refresh", "--as", "admin", "--region", REGION)
    assert own.exit_code == 0, own.output
    assert f"refreshed 4 of 4 stale assessment(s) in {REGION}" in own.output
    assert assessment_versions(scene)["OTH"] == [
        1
    ]  # the other region's stale family is left for its admin
