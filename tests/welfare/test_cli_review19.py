"""`shanyraq welfare` console summaries and head checks: defects found in review 19.

Before: `welfare evaluate-real` printed each arm's accuracy and review rate with `:.3f` and
crashed (TypeError, after the study had run) on an undefined figure, and printed an undefined
exclusion error as "None" and a defined one with every digit; `welfare evaluate` and
`evaluate-real` rounded a figure onto its target (an accuracy of 91.996 % read 0.920 beside the
92 % target the report says is NOT reached); a fusion.json whose head_sha256 map named only some
of the head files let the others load unchecked, so a head file of another fit of the same
model was accepted.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from welfare.cli import app
from welfare.fusion import FusionModel
from welfare.model_folder import META_FILE
from welfare.train import fit_on

runner = CliRunner()


# --- welfare evaluate-real on the console --------------------------------------------------


def _arm(accuracy, exclusion, review):
    def figure(value):
        return {"value": value, "ci_low": None, "ci_high": None}

    return {
        "accuracy": figure(accuracy),
        "qwk": figure(None),
        "exclusion_error": figure(exclusion),
        "needs_review_rate": figure(review),
    }


def _run_real(tmp_path, monkeypatch, arms):
    """`welfare evaluate-real` with the study replaced by figures given here."""
    result = {
        "_frames": None,
        "tabular": "lgbm_tabular",
        "fused": "lgbm_fused",
        "engine_trained": None,
        "overall": {"arms": arms},
    }
    study = "welfare.real_evaluation.measure_real_scores"
    monkeypatch.setattr(study, lambda *a, **k: json.loads(json.dumps(result)))
    ran = runner.invoke(app, ["evaluate-real", "--out", str(tmp_path)])
    assert ran.exit_code == 0, (ran.output, ran.exception)
    lines = {}
    for line in ran.output.splitlines():
        if ": accuracy " in line:
            key, figures = line.split(": ", 1)
            lines[key] = figures
    return lines


def test_evaluate_real_prints_undefined_figures_as_n_a_not_a_crash(tmp_path, monkeypatch):
    arms = {
        "lgbm_tabular | simulated": _arm(None, None, None),
        "lgbm_tabular | engine": _arm(math.nan, 0.0, 0.25),
        "lgbm_fused | simulated": _arm(0.5, None, 0.125),
        "lgbm_fused | engine": _arm(0.75, 0.01234567, 0.1),
    }
    lines = _run_real(tmp_path, monkeypatch, arms)
    assert lines == {
        "lgbm_tabular | simulated": "accuracy n/a exclusion n/a review n/a",
        "lgbm_tabular | engine": "accuracy n/a exclusion 0.000 review 0.250",
        "lgbm_fused | simulated": "accuracy 0.500 exclusion n/a review 0.125",
        "lgbm_fused | engine": "accuracy 0.750 exclusion 0.012 review 0.100",
    }
    written = json.loads((tmp_path / "real_scores.json").read_text(encoding="utf-8"))
    assert written["overall"]["arms"]["lgbm_tabular | engine"]["accuracy"]["value"] is None


def test_evaluate_real_never_rounds_a_figure_onto_its_target(tmp_path, monkeypatch, welfare_config):
    goal = welfare_config.targets
    below, above = goal.level_accuracy - 4e-5, goal.exclusion_error + 4e-7
    arms = {
        "lgbm_tabular | simulated": _arm(below, above, goal.needs_review_rate + 2e-4),
        "lgbm_tabular | engine": _arm(goal.level_accuracy, goal.exclusion_error, 0.2),
        "lgbm_fused | simulated": _arm(0.5, 0.0, 0.1),
        "lgbm_fused | engine": _arm(0.5, 0.0, 0.1),
    }
    lines = _run_real(tmp_path, monkeypatch, arms)
    shown = lines["lgbm_tabular | simulated"].split()
    accuracy, exclusion, review = (float(shown[i]) for i in (1, 3, 5))
    assert accuracy < goal.level_accuracy, shown  # 0.91996 was printed 0.920
    assert exclusion > goal.exclusion_error, shown
    assert review > goal.needs_review_rate, shown
    assert shown[1] == f"{below:.5f}"
    # a figure on its target, or far from it, keeps the three decimals it had
    assert lines["lgbm_tabular | engine"] == (
        f"accuracy {goal.level_accuracy:.3f} exclusion {goal.exclusion_error:.3f} review 0.200"
    )


# --- welfare evaluate on the console -------------------------------------------------------


def test_evaluate_never_rounds_a_figure_onto_its_target(tmp_path, monkeypatch, welfare_config):
    import welfare.report
    import welfare.train

    goal = welfare_config.targets
    level = {"accuracy": goal.level_accuracy - 4e-5, "macro_f1": 0.91996, "qwk": None}
    asp = {"exclusion_error": goal.exclusion_error, "needs_review_rate": 0.25}
    result = {
        "models": {"m": {"overall": {"level": level, "asp": asp}}},
        "default_model": "m",
        "serving_model": "m",
    }
    page = tmp_path / "report.md"
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: welfare_config)
    monkeypatch.setattr(welfare.train, "evaluate_saved", lambda *a, **k: (result, {"recipe": None}))
    monkeypatch.setattr(welfare.report, "write_report", lambda *a, **k: page)
    args = ["evaluate", str(tmp_path / "models"), "--out", str(tmp_path / "out")]
    ran = runner.invoke(app, [*args, "--markdown", str(page)])
    assert ran.exit_code == 0, ran.output
    line = next(s for s in ran.output.splitlines() if s.startswith("m: "))
    accuracy = f"{goal.level_accuracy - 4e-5:.5f}"
    # macro-F1 has no target: three decimals as before; exclusion on its target: as before
    assert line == (
        f"m: accuracy {accuracy} macro-F1 0.920 QWK n/a "
        f"exclusion {goal.exclusion_error:.3f} review 0.250"
    ), line


# --- head files a fusion.json records only some of -----------------------------------------


def _drop_digest(folder, head):
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    del meta["head_sha256"][head]
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "head"), [("lgbm_tabular", "asp.txt"), ("lgbm_fused", "level.json")]
)
def test_a_head_file_the_digests_leave_out_is_refused_not_loaded_unchecked(
    trained, family_data, welfare_config, tmp_path, name, head
):
    other = fit_on(family_data.subset(range(300)), name, config=welfare_config, seed=1, source={})
    folder = trained[name].save(tmp_path / "m")
    shutil.copyfile(other.save(tmp_path / "other") / head, folder / head)  # another fit's head
    _drop_digest(folder, head)
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder)
    message = refused.value.message
    assert f"'head_sha256' records no digest of {head}" in message, message
    assert str(folder / META_FILE) in message


def test_a_folder_with_every_digest_or_none_still_loads(trained, tmp_path):
    folder = trained["lgbm_fused"].save(tmp_path / "m")
    assert FusionModel.load(folder).meta.version == trained["lgbm_fused"].meta.version
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    meta["head_sha256"] = None  # saved before digests were kept
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    assert FusionModel.load(folder).meta.head_sha256 is None


# --- the ceiling's provenance --------------------------------------------------------------


def test_the_ceiling_records_the_configuration_it_was_measured_with(monkeypatch, welfare_config):
    """Before, ceiling.json recorded the whole config's digest (targets included) but not the
    measured one real_scores.json and metrics.json carry, so a ceiling measured under other
    rules or features could not be told from one measured under these."""
    from tests.welfare.families_helpers import make_families
    from welfare.ceiling import measure_ceiling
    from welfare.dataset import build_family_data
    from welfare.simulate import simulate_photos

    def hand_made(n, *, seed, noise, config):
        table, planned = make_families(n, seed=seed, config=config)
        photos = simulate_photos(planned, seed=seed + 1, noise=noise)
        return build_family_data(table, photos, config=config)

    monkeypatch.setattr("welfare.ceiling.synthetic_family_data", hand_made)
    result = measure_ceiling(n=200, seed=1, sizes=[120], config=welfare_config)
    assert len(result["rows"]) == 2
    assert result["welfare_config_measured_sha256"] == welfare_config.measured_digest()
