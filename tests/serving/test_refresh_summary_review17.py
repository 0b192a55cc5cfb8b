"""`shanyraq assessments refresh`'s summary of failed families: one line per error with its
count and the first few families, not one line per family, and one warning logged per error;
the exit code stays 2 and the run's end audit entry keeps every failed family."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from serving import assessments_refresh
from serving.assessments_cli import FAILED_SHOWN, report_lines
from serving.assessments_refresh import Refreshed, RefreshReport
from shanyraq.errors import ConfigError
from tests.serving import refresh_scene
from welfare.schema import FamilyRecordError

# The scene of the refresh tests (`scene`, registered from tests/serving/refresh_scene.py): five
# stale families (CFG, FUS, OTH, PHO, REC).
MISMATCH = "the fusion model does not match configs/welfare.yaml: retrain or configure another"


def _failed(family_id: str, code: str, detail: str) -> Refreshed:
    return Refreshed(family_id, "fusion_model", None, error=code, detail=detail)


def test_many_families_failing_the_same_way_read_as_one_line_with_a_count():
    same = [_failed(f"F{i:04d}", "config_invalid", MISMATCH) for i in range(1, 1201)]
    odd = _failed("ODD", "family_record_invalid", "per_capita_income_kzt is negative")
    report = RefreshReport(
        region=None, families=[*same[:5], odd, *same[5:], Refreshed("OK", "record", 2)]
    )
    lines = report_lines(report)
    assert "  not recomputed, still stale: 1201, per error:" in lines
    failure_lines = [line for line in lines if line.startswith("    [")]
    shown = ", ".join(f"F{i:04d}" for i in range(1, FAILED_SHOWN + 1))
    assert failure_lines == [  # most frequent first
        f"    [config_invalid] 1200: {MISMATCH} (families: {shown} and {1200 - FAILED_SHOWN} more)",
        "    [family_record_invalid] 1: per_capita_income_kzt is negative (families: ODD)",
    ]
    assert len(lines) < 10  # not one per family
    assert any("assessments_refreshed audit entry" in line for line in lines)


def test_one_code_with_differing_texts_is_one_line_with_an_example():
    families = [
        _failed("A", "family_record_invalid", "A: income is negative"),
        _failed("B", "family_record_invalid", "B: household size is 0"),
    ]
    [line] = [x for x in report_lines(RefreshReport(None, families)) if x.startswith("    [")]
    assert line == ("    [family_record_invalid] 2: e.g. A: A: income is negative (families: A, B)")


def test_cli_groups_failures_exits_2_and_the_audit_keeps_each_family(
    scene, monkeypatch, tmp_path, database_url, new_fusion_dir, caplog
):
    def fail(services: Any, family_id: str, **kwargs: Any) -> int | None:
        if family_id == "REC":
            raise FamilyRecordError("REC's record no longer validates: correct it")
        raise ConfigError(MISMATCH)

    monkeypatch.setattr(assessments_refresh, "recompute", fail)
    config = refresh_scene.cli_config(tmp_path, database_url, new_fusion_dir)
    with caplog.at_level(logging.DEBUG, logger=assessments_refresh.__name__):
        done = refresh_scene.run_cli(config, "assessments", "refresh", "--as", "admin_national")
    # One warning per error code, the other families of a code at debug level.
    logged = [(r.levelno, r.getMessage().split(": [", 1)[0]) for r in caplog.records]
    warned = sorted(m for level, m in logged if level == logging.WARNING)
    assert warned == [f"refresh: family {f} not recomputed" for f in ("CFG", "REC")]
    assert sum(level == logging.DEBUG for level, _ in logged) == 3
    # The refusal main() turns into `error [refresh_families_failed]: ...` and exit code 2.
    assert isinstance(done.exception, assessments_refresh.RefreshFamiliesFailedError)
    assert "not recomputed, still stale: 5, per error:" in done.output
    assert f"    [config_invalid] 4: {MISMATCH} (families: CFG, FUS, OTH, PHO)" in done.output
    assert "    [family_record_invalid] 1: REC's record no longer validates" in done.output
    end = refresh_scene.audit_entries(scene)[-1]
    assert end.action == "assessments_refreshed"
    assert end.details["failed"] == {
        "CFG": "config_invalid", "FUS": "config_invalid", "OTH": "config_invalid",
        "PHO": "config_invalid", "REC": "family_record_invalid",
    }  # fmt: skip


@pytest.mark.parametrize("n", [FAILED_SHOWN, FAILED_SHOWN + 1])
def test_and_n_more_only_past_the_shown_few(n):
    families = [_failed(f"F{i:02d}", "config_invalid", MISMATCH) for i in range(n)]
    [line] = [x for x in report_lines(RefreshReport(None, families)) if x.startswith("    [")]
    assert line.endswith(" and 1 more)") == (n > FAILED_SHOWN)
