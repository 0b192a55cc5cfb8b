"""The fairness intervals' settings live in configs/welfare.yaml, with a floor on the resamples.

When a group's bootstrap interval stands was a code constant (the share of resamples that must
measure it), and nothing stopped a bootstrap of a handful of resamples: `--n-boot 10` gave
percentile intervals that cannot span 95 %, shown as bootstrap intervals. The settings are now
`fairness.intervals` (a bad value refused, naming the key), below `min_bootstrap_draws` no
bootstrap is drawn (Wilson's intervals, marked so), and the figures record the settings used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shanyraq.errors import ConfigError
from tests.welfare.fairness_helpers import HALF, families_with_tiny_region, tiny_group
from welfare import report
from welfare.criteria import FairnessIntervals, load_welfare_config
from welfare.evaluation import evaluate_models
from welfare.fairness import (
    BOOTSTRAP,
    CLOPPER_PEARSON,
    WILSON,
    configured_intervals,
    fairness_table,
    least_bootstrap_draws,
    wilson_interval,
)
from welfare.fairness_report import fairness_lines

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "configs" / "welfare.yaml"
SHIPPED = {"min_drawn_share": 0.95, "min_bootstrap_draws": 39}


def _config_with(tmp_path: Path, **intervals: object):
    data = yaml.safe_load(REAL.read_text())
    data["fairness"]["intervals"].update(intervals)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_welfare_config(path)


def test_the_shipped_settings_are_the_values_the_code_held():
    assert load_welfare_config().fairness.intervals.model_dump() == SHIPPED
    assert least_bootstrap_draws() == 39  # (B - 1) / (B + 1) >= 95 % from B = 39


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("min_drawn_share", 0.5, "below the intervals' coverage 95%"),
        ("min_drawn_share", 1.5, "less than or equal to 1"),
        ("min_drawn_share", 0, "greater than 0"),
        ("min_bootstrap_draws", 10, "10 resamples cannot make a 95 % percentile interval"),
        ("min_bootstrap_draws", 38, "set it to 39 or more"),
        ("min_bootstrap_draws", "many", "valid integer"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_key(tmp_path, setting, value, message):
    with pytest.raises(ConfigError) as refused:
        _config_with(tmp_path, **{setting: value})
    text = str(refused.value)
    assert f"key 'fairness.intervals.{setting}'" in text and message in text


def test_a_missing_setting_is_refused_naming_its_key(tmp_path):
    data = yaml.safe_load(REAL.read_text())
    del data["fairness"]["intervals"]["min_bootstrap_draws"]
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as refused:
        load_welfare_config(path)
    assert "key 'fairness.intervals.min_bootstrap_draws': Field required" in str(refused.value)


def test_the_interval_settings_leave_saved_measurements_current(tmp_path):
    """ceiling.json and real_scores.json never depend on them: changing them must not make
    those measurements stale in the report (only the fairness section `evaluate` draws does)."""
    shipped = load_welfare_config()
    changed = _config_with(tmp_path, min_drawn_share=1.0, min_bootstrap_draws=100)
    assert changed.digest() != shipped.digest()
    assert changed.measured_digest() == shipped.measured_digest()
    data = yaml.safe_load(REAL.read_text())
    data["fairness"]["min_families_per_group"] = 11  # as before: part of the measured digest
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(data))
    assert load_welfare_config(tmp_path / "other.yaml").measured_digest() != (
        shipped.measured_digest()
    )


def _fnr(n_boot: int, seed: int, intervals: FairnessIntervals | None = None):
    outcomes = families_with_tiny_region(HALF)
    (figure, *_) = fairness_table(
        outcomes,
        groupings=["region"],
        n_boot=n_boot,
        seed=seed,
        min_families=1,
        intervals=intervals,
    )
    assert figure.metric == "fnr"
    return figure


def _methods(figure) -> dict[str, str | None]:
    return {g.group: g.ci_method for g in figure.groups}


def test_too_few_resamples_give_no_bootstrap_interval():
    seed = 6  # with 39 resamples both regions' FNR between 0 and 1 keep a bootstrap interval
    exact = {"north": CLOPPER_PEARSON}  # FNR 0 of 15: the exact interval, as always
    assert _methods(_fnr(39, seed)) == {**exact, "south": BOOTSTRAP, "tiny": BOOTSTRAP}
    for n_boot in (10, 38):
        few = _fnr(n_boot, seed)
        assert _methods(few) == {**exact, "south": WILSON, "tiny": WILSON}
        for g in few.groups[1:]:
            events = round(g.value * g.denominator)
            assert (g.ci_low, g.ci_high) == pytest.approx(wilson_interval(events, g.denominator))
        assert few.intervals == {"n_boot": n_boot, "seed": seed, **SHIPPED}
        assert few.gap_ci_method == "newcombe"  # the gap's interval never was a bootstrap


def test_the_configured_settings_are_the_ones_obeyed():
    seed = 6  # 40 resamples: the tiny region measured in 39 of them (97.5 %)
    assert tiny_group(_fnr(40, seed)).ci_method == BOOTSTRAP
    strict = FairnessIntervals(min_drawn_share=1.0, min_bootstrap_draws=39)
    assert tiny_group(_fnr(40, seed, strict)).ci_method == WILSON
    assert _fnr(40, seed, strict).intervals["min_drawn_share"] == 1.0
    more = FairnessIntervals(min_drawn_share=0.95, min_bootstrap_draws=50)
    assert set(_methods(_fnr(40, seed, more)).values()) == {CLOPPER_PEARSON, WILSON}
    assert configured_intervals() == load_welfare_config().fairness.intervals


def _page(n_boot: int) -> str:
    figures = [f.to_dict() for f in [_fnr(n_boot, 6)]]
    return " ".join(fairness_lines({"models": {}, "fairness": {"model": "m", "figures": figures}}))


def test_the_report_says_when_no_bootstrap_was_drawn():
    few = _page(10)
    assert "**10 bootstrap samples are fewer than the 39 a bootstrap interval needs" in few
    assert "none a bootstrap interval" in few
    assert "`fairness.intervals.min_drawn_share`" in few
    enough = _page(39)
    assert "fewer than the 39" not in enough
    assert "A bootstrap is drawn only from 39 bootstrap samples up" in enough


def test_metrics_json_records_the_fairness_settings(tmp_path, trained, family_data, welfare_config):
    models = {"lgbm_tabular": trained["lgbm_tabular"]}
    result = evaluate_models(
        models, family_data.subset(range(700, 748)), config=welfare_config, n_boot=5, seed=3
    )
    context = {
        "command": "test",
        "default_model": result["default_model"],
        "data_note": "note",
        "notes": [],
        "n_families": 48,
        "seed": 3,
        "recipe": None,
    }
    report.write_report(
        result,
        out_dir=tmp_path,
        markdown=tmp_path / "r.md",
        context=context,
        levels=welfare_config.level_values,
        targets=welfare_config.targets,
    )
    written = json.loads((tmp_path / "metrics.json").read_text())["fairness"]
    for figure in written["figures"]:
        assert figure["intervals"] == {"n_boot": 5, "seed": 3, **SHIPPED}
        assert all(g["ci_method"] != BOOTSTRAP for g in figure["groups"])
    assert "**5 bootstrap samples are fewer than the 39" in (tmp_path / "r.md").read_text()


def test_the_shipped_report_records_how_its_intervals_were_made():
    """docs/images/welfare/metrics.json, written by `shanyraq welfare evaluate`."""
    shipped = json.loads((ROOT / "docs/images/welfare/metrics.json").read_text())["fairness"]
    n_boot, seed = shipped["n_boot"], shipped["seed"]
    assert n_boot >= SHIPPED["min_bootstrap_draws"]
    for figure in shipped["figures"]:
        assert figure["intervals"] == {"n_boot": n_boot, "seed": seed, **SHIPPED}
        for g in figure["groups"]:
            assert g["ci_method"] is not None or g["value"] is None


def test_evaluate_models_draws_the_intervals_its_config_sets(trained, family_data, welfare_config):
    """`evaluate_models(config=X)` took X's `min_families_per_group` but the global
    configuration's interval settings: the figures must follow X's."""
    own = FairnessIntervals(min_drawn_share=1.0, min_bootstrap_draws=100)
    fairness = welfare_config.fairness.model_copy(update={"intervals": own})
    config = welfare_config.model_copy(update={"fairness": fairness})
    models = {"lgbm_tabular": trained["lgbm_tabular"]}
    families = family_data.subset(range(700, 748))

    def figures(settings):
        done = evaluate_models(models, families, config=settings, n_boot=60, seed=3)
        return done["fairness"]["figures"]

    shipped = figures(welfare_config)  # 60 resamples are enough there: some bootstrap stands
    assert any(g["ci_method"] == BOOTSTRAP for f in shipped for g in f["groups"])
    for figure in figures(config):  # 60 are fewer than X's 100: none drawn
        assert figure["intervals"] == {"n_boot": 60, "seed": 3, **own.model_dump()}
        assert all(g["ci_method"] != BOOTSTRAP for g in figure["groups"])


def _evaluate_empty(tmp_path: Path, n_boot: int):
    """`welfare evaluate` of a folder with no models: refused after its options are read."""
    from typer.testing import CliRunner

    from welfare.cli import app

    (tmp_path / "models").mkdir(exist_ok=True)
    out, page = str(tmp_path / "plots"), str(tmp_path / "r.md")
    args = ["evaluate", str(tmp_path / "models"), "--out", out, "--markdown", page]
    return CliRunner().invoke(app, [*args, "--n-boot", str(n_boot)])


def test_evaluate_says_at_once_when_n_boot_draws_no_bootstrap(tmp_path):
    """Below the minimum no bootstrap is drawn: said when the command runs, not only in the
    report it writes at the end."""
    few = _evaluate_empty(tmp_path, 38)
    assert "note: --n-boot 38 is fewer than the 39 resamples" in few.output
    assert "give --n-boot 39 or more" in few.output
    assert "no fusion models" in str(few.exception)  # the note comes first; the run goes on
    enough = _evaluate_empty(tmp_path, 39)
    assert "no fusion models" in str(enough.exception) and "note:" not in enough.output
    refused = _evaluate_empty(tmp_path, 0)  # below 1: a usage error, never a traceback
    assert refused.exit_code == 2 and "Invalid value for '--n-boot'" in refused.output
    assert "note:" not in refused.output


def test_evaluate_help_says_the_resamples_minimum():
    from typer.testing import CliRunner

    from shanyraq.cli import build_app

    shown = CliRunner().invoke(build_app(), ["welfare", "evaluate", "--help"])
    text = " ".join(shown.output.split())
    minimum = "configs/welfare.yaml fairness.intervals.min_bootstrap_draws"
    assert f"at least 1. Fewer than {minimum} (never under {least_bootstrap_draws()})" in text
    assert "draw none: every group's interval is then Wilson's" in text
