"""Review 15: a fusion model trained on other welfare levels than the configuration's is
refused, where it is loaded and where it assesses; `welfare evaluate` prints an undefined
figure as n/a, as the report does."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from shanyraq.errors import ModelMismatchError
from shanyraq.taxonomy import get_taxonomy
from tests.welfare.families_helpers import family
from welfare.assess import assess
from welfare.criteria import Level, get_welfare_config
from welfare.fusion import FusionModel
from welfare.schema import parse_family

ROOT = Path(__file__).resolve().parents[2]
SIX = "[1, 2, 3, 4, 5, 6]"


def _with_levels(config, values):
    """`config` with the welfare levels 1..len(values) (the real ones where they exist)."""
    known = {lv.value: lv for lv in config.levels}
    levels = [known.get(v) or Level(value=v, name=f"level_{v}", description="-") for v in values]
    return config.model_copy(update={"levels": levels})


@pytest.mark.parametrize("values", [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7]])
def test_assess_refuses_a_model_trained_on_other_levels(trained, welfare_config, values):
    """The level's name and reasons are read by position in the configuration's levels: with
    other levels a family would get another level's name, or no probability for a level."""
    config = _with_levels(welfare_config, values)
    record = parse_family(family(config, per_capita_income_kzt=20_000.0), config=config)
    saved = trained["lgbm_tabular"]  # a copy never saved: the session's may have been
    model = FusionModel(saved.meta, saved.level_head, saved.asp_head)
    with pytest.raises(ModelMismatchError) as refused:
        assess(record, [], model=model, config=config, taxonomy=get_taxonomy())
    text = str(refused.value)
    assert SIX in text and str(values) in text, text
    # The full command of the data it records (trained on (700, 3)), --out said to be added.
    assert "`shanyraq welfare train --n 700 --seed 3 --model lgbm_tabular`" in text, text
    assert "not read from a folder" in text, text


def test_assess_with_the_configured_levels_still_gives_a_level(trained, welfare_config):
    record = parse_family(family(welfare_config), config=welfare_config)
    out = assess(record, [], model=trained["lgbm_tabular"], config=welfare_config)
    assert out.model_level in welfare_config.level_values
    assert list(out.level_probs) == welfare_config.level_values


@pytest.fixture
def seven_levels(tmp_path, monkeypatch):
    """configs/ with a seventh welfare level, as the service and the CLI read it."""
    folder = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", folder)
    path = folder / "welfare.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["levels"].append({"value": 7, "name": "top", "description": "A seventh level."})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(folder))
    get_welfare_config.cache_clear()
    yield
    get_welfare_config.cache_clear()  # monkeypatch restores the variable after this


def test_load_refuses_a_model_of_other_levels_than_the_configuration(
    trained, tmp_path, seven_levels
):
    folder = trained["lgbm_tabular"].save(tmp_path / "m")
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder)
    text = str(refused.value)
    assert str(folder) in text and SIX in text and "[1, 2, 3, 4, 5, 6, 7]" in text, text
    # Built again beside where it is, its folder (m, not its name) moved out first.
    command = (
        f"`shanyraq welfare train --out {tmp_path} --n 700 --seed 3 --model lgbm_tabular "
        f"--overwrite` (first move m out of {tmp_path}: "
    )
    assert command in text, text
    # Levels given by the caller are the ones checked.
    assert FusionModel.load(folder, levels=[1, 2, 3, 4, 5, 6]).meta.levels == [1, 2, 3, 4, 5, 6]


def test_the_service_refuses_it_when_it_loads_its_models(trained, tmp_path, seven_levels):
    """Start-up (serving.app) and the reassessment's version check load it the same way."""
    from serving.app import _load_models
    from serving.reassessment import configured_fusion_version

    folder = trained["lgbm_tabular"].save(tmp_path / "m")
    settings = SimpleNamespace(model_dir=None, fusion_dir=folder)
    with pytest.raises(ModelMismatchError, match=r"welfare levels"):
        _load_models(settings)  # type: ignore[arg-type]
    with pytest.raises(ModelMismatchError, match=r"welfare levels"):
        configured_fusion_version(settings)  # type: ignore[arg-type]


def test_load_with_the_configured_levels_still_loads(trained, tmp_path):
    folder = trained["lgbm_tabular"].save(tmp_path / "m")
    assert FusionModel.load(folder).meta.version == trained["lgbm_tabular"].meta.version


# `shanyraq welfare evaluate` on the console


def test_evaluate_prints_an_undefined_figure_as_n_a(tmp_path, monkeypatch):
    """QWK on one grade, macro-F1 with an empty class, an exclusion error with no eligible
    family: undefined (NaN, or null as metrics.json holds it) reads n/a, never nan."""
    import welfare.report
    import welfare.train
    from welfare.cli import app

    level = {"accuracy": 0.5, "macro_f1": math.nan, "qwk": None}
    asp = {"exclusion_error": math.nan, "needs_review_rate": 0.25}
    result = {
        "models": {"m": {"overall": {"level": level, "asp": asp}}},
        "default_model": "m",
        "serving_model": "m",
    }
    page = tmp_path / "report.md"
    monkeypatch.setattr(welfare.train, "evaluate_saved", lambda *a, **k: (result, {"recipe": None}))
    monkeypatch.setattr(welfare.report, "write_report", lambda *a, **k: page)
    args = ["evaluate", str(tmp_path / "models"), "--out", str(tmp_path / "out")]
    ran = CliRunner().invoke(app, [*args, "--markdown", str(page)])
    assert ran.exit_code == 0, ran.output
    line = next(s for s in ran.output.splitlines() if s.startswith("m: "))
    assert line == "m: accuracy 0.500 macro-F1 n/a QWK n/a exclusion n/a review 0.250", line
