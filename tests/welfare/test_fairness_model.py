"""Fairness is reported for the model the service uses (configs/welfare.yaml
`fusion.serving_model`) unless `--fairness-model` names another; the report says which model
the service uses, apart from the default model the targets are held against."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from welfare.cli import app
from welfare.evaluation import FairnessModelMissingError, evaluate_models
from welfare.report import write_report

PAIR = ("lgbm_tabular", "lgbm_fused")


@pytest.fixture(scope="module")
def models(trained):
    return {name: trained[name] for name in PAIR}


def _evaluate(models, family_data, config, **kwargs):
    test = family_data.subset(range(700, 900))
    return evaluate_models(models, test, config=config, n_boot=5, seed=0, **kwargs)


def _with_serving(config, name):
    return config.model_copy(
        update={"fusion": config.fusion.model_copy(update={"serving_model": name})}
    )


def test_fairness_defaults_to_the_serving_model_of_configs(models, family_data, welfare_config):
    fusion = welfare_config.fusion
    assert fusion.serving_model != fusion.default_model  # as shipped: the case at stake
    result = _evaluate(models, family_data, welfare_config)
    assert result["fairness"]["model"] == result["serving_model"] == fusion.serving_model
    assert result["default_model"] == fusion.default_model  # targets: still the default model
    other = next(name for name in PAIR if name != fusion.serving_model)
    moved = _evaluate(models, family_data, _with_serving(welfare_config, other))
    assert moved["fairness"]["model"] == other  # one source of truth: configs/welfare.yaml
    chosen = _evaluate(models, family_data, welfare_config, fairness_model=other)
    assert chosen["fairness"]["model"] == other
    assert chosen["fairness"]["figures"] != result["fairness"]["figures"]


def test_a_fairness_model_not_evaluated_is_refused(models, family_data, welfare_config):
    with pytest.raises(
        FairnessModelMissingError, match=r"the models evaluated are lgbm_(tabular|fused), lgbm_"
    ) as refused:
        _evaluate(models, family_data, welfare_config, fairness_model="rf_tabular")
    assert refused.value.code == "fairness_model_missing"
    assert "shanyraq welfare train --model rf_tabular" in refused.value.message


def test_the_report_names_the_model_the_service_uses(models, family_data, welfare_config, tmp_path):
    result = _evaluate(models, family_data, welfare_config)
    result.pop("_frames")
    serving, default = welfare_config.fusion.serving_model, welfare_config.fusion.default_model
    context = {
        "command": "test", "default_model": result["default_model"], "serving_model": serving,
        "data_note": "note", "notes": [], "n_families": 900, "seed": 3, "recipe": None,
    }  # fmt: skip
    page = write_report(
        result, out_dir=tmp_path / "out", markdown=tmp_path / "r.md", context=context,
        levels=welfare_config.level_values, targets=welfare_config.targets,
    ).read_text()  # fmt: skip
    header = page.split("## Data")[0]
    assert f"The service assesses families with `{serving}`" in header
    assert f"default model `{default}`" in header and f"fairness is reported for `{serving}`" in (
        header
    )
    assert f"## Fairness (model `{serving}`, the model the service uses, " in page
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["serving_model"] == saved["fairness"]["model"] == serving


def test_cli_fairness_model_option(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "models"
    args = ["train", "--out", str(folder), "--n", "400", "--seed", "5"]
    trained = runner.invoke(app, [*args, "--model", PAIR[0], "--model", PAIR[1]])
    assert trained.exit_code == 0, trained.output

    def evaluate(name: str, *extra: str):
        out = tmp_path / name
        given = ["--out", str(out), "--markdown", str(tmp_path / f"{name}.md"), "--n-boot", "5"]
        return runner.invoke(app, ["evaluate", str(folder), *given, *extra]), out

    from welfare.criteria import get_welfare_config

    serving = get_welfare_config().fusion.serving_model
    done, out = evaluate("default")
    assert done.exit_code == 0, done.output
    assert json.loads((out / "metrics.json").read_text())["fairness"]["model"] == serving
    other = next(name for name in PAIR if name != serving)
    done, out = evaluate("chosen", "--fairness-model", other)
    assert done.exit_code == 0, done.output
    assert json.loads((out / "metrics.json").read_text())["fairness"]["model"] == other
    refused, out = evaluate("refused", "--fairness-model", "rf_fused")
    assert refused.exit_code != 0 and refused.exception.code == "fairness_model_missing"
    assert not (tmp_path / "refused.md").exists()
