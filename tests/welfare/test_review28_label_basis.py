"""A fusion model is refused under another poverty line than its ASP labels were drawn under.

The synthetic ASP labels are per-capita income under configs/welfare.yaml
`thresholds.poverty_line_kzt`. The line shapes no feature, only what P(ASP eligible) means: a
model trained under one line answers for that line. Before, when the line was set anew, such a
model loaded and assessed without a word, its P(eligible under the old line) shown as today's.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from shanyraq.errors import ModelMismatchError
from tests.welfare.fusion_file_helpers import rewrite
from tests.welfare.welfare_config_helpers import with_poverty_line
from welfare.fusion import FusionModel


def _line(data: dict[str, Any], kzt: float) -> None:
    data["thresholds"]["poverty_line_kzt"] = kzt


@pytest.mark.parametrize("name", ["lgbm_tabular", "rf_fused"])
def test_a_model_trained_under_one_poverty_line_is_refused_under_another(
    trained, welfare_config, tmp_path, edit_welfare, name
):
    model = trained[name]
    assert welfare_config.thresholds.poverty_line_kzt == 32360  # the shipped line
    folder = model.save(tmp_path / name)
    edit_welfare(lambda d: _line(d, 37360))
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder)
    text = str(refused.value)
    assert text.startswith(f"{folder}: fusion model {model.meta.version} "), text
    assert "poverty line 32,360 KZT" in text and "37,360 KZT now" in text, text
    assert "thresholds.poverty_line_kzt" in text, text
    # Built again where it is, on the data it records (trained on (700, 3)).
    assert text.endswith(
        f"; retrain it with `shanyraq welfare train --out {tmp_path} --n 700 --seed 3 --model "
        f"{name} --overwrite`"
    ), text


def test_a_new_line_with_a_new_source_names_both_sources(trained, welfare_config, tmp_path):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    thresholds = welfare_config.thresholds.model_copy(
        update={"poverty_line_kzt": 35000, "poverty_line_source": "Decree of 2026."}
    )
    now = welfare_config.model_copy(update={"thresholds": thresholds})
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder, config=now)
    was = welfare_config.thresholds.poverty_line_source.strip()
    assert (
        f"drawn under the poverty line 32,360 KZT (source: {was}) (configs/welfare.yaml "
        "thresholds.poverty_line_kzt is 35,000 KZT now, source: Decree of 2026.)"
    ) in str(refused.value)


def test_an_engine_trained_model_is_refused_naming_train_engine(
    family_data, welfare_config, tmp_path
):
    # Its records and ASP labels are the synthetic families' (training.synth.families), drawn
    # under the line as `welfare train`'s are; only its photo scores are the engine's.
    from welfare.real_training import fit_engine_fused

    source = {"n": 1, "seed": 1, "vision_model": "vision-test"}
    data = family_data.subset(range(300))
    model = fit_engine_fused(data, config=welfare_config, seed=0, source=source)
    folder = model.save(tmp_path / "engine")
    assert FusionModel.load(folder, config=welfare_config).meta.version == model.meta.version
    with pytest.raises(ModelMismatchError) as refused:
        FusionModel.load(folder, config=with_poverty_line(welfare_config, 40000))
    text = str(refused.value)
    assert "poverty line 32,360 KZT" in text and "40,000 KZT now" in text, text
    # The full command, with every option the model records: run bare, train-engine would build
    # one of other data, size and vision folder, which the next load refuses again. This model
    # records no vision model's folder nor render size, so both are asked for after it.
    assert text.endswith(
        f"; retrain it with `shanyraq welfare train-engine --n 1 --seed 1 --out {folder} "
        "--overwrite --keep-meaningless`, with --vision the folder of vision model vision-test, "
        "and with --size of the photos it was trained on, which the model does not record "
        "(train-engine's default where left out)"
    ), text


def test_a_model_saved_before_the_line_was_recorded_loads_with_a_warning(trained, tmp_path, caplog):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    rewrite(folder, lambda d: d.pop("label_basis", None))
    with caplog.at_level(logging.WARNING, logger="welfare.fusion_version"):
        loaded = FusionModel.load(folder)
    assert loaded.meta.version == model.meta.version
    said = [r.getMessage() for r in caplog.records if "poverty line" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert said[0].startswith(f"{folder}: fusion model {model.meta.version} does not record")
    assert "32,360 KZT" in said[0], said[0]
    assert (
        f"retrain it with `shanyraq welfare train --out {tmp_path} --n 700 --seed 3 --model "
        f"lgbm_tabular --overwrite` (first move m out of {tmp_path}: "
    ) in said[0], said[0]
    assert said[0].endswith("<its name>)) to record it"), said[0]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: None,
        lambda d: d["thresholds"].update(poverty_line_source="Another decree, same line."),
        lambda d: d["thresholds"].update(subsistence_minimum_source="Another law."),
    ],
    ids=["unchanged", "line-source", "other-source"],
)
def test_a_model_under_the_same_line_loads_without_a_word(
    trained, tmp_path, edit_welfare, caplog, change
):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    edit_welfare(change)
    with caplog.at_level(logging.WARNING, logger="welfare"):
        assert FusionModel.load(folder).meta.version == model.meta.version
    assert "poverty line" not in caplog.text


def test_the_line_is_recorded_without_changing_the_version(trained, welfare_config):
    # The training-data hash holds the ASP labels the line drew: a model whose labels differ
    # has another version already, and the same labels fit the same heads.
    from welfare.fusion_version import label_basis, model_version

    model = trained["rf_tabular"]
    assert model.meta.label_basis == label_basis(welfare_config)
    assert model.meta.label_basis == {
        "poverty_line_kzt": 32360,
        "poverty_line_source": welfare_config.thresholds.poverty_line_source,
    }
    unrecorded = replace(model.meta, label_basis=None)
    assert model_version(unrecorded, model.level_head, model.asp_head) == model.meta.version


@pytest.mark.parametrize("recorded", [32360, {"poverty_line_kzt": "32360"}, {}])
def test_a_label_basis_in_another_form_is_refused(trained, tmp_path, recorded):
    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    rewrite(folder, lambda d: d.update(label_basis=recorded))
    with pytest.raises(ModelMismatchError, match="label_basis is not one this version reads"):
        FusionModel.load(folder)


def test_the_demo_trains_its_model_again_under_a_new_line(trained, welfare_config, tmp_path):
    # serving.demo_models asks this before loading the model (which is refused now): without
    # it the demo kept the model, and the service refused it at start-up.
    from serving.demo_models import stale_because

    model = trained["lgbm_tabular"]
    folder = model.save(tmp_path / "m")
    assert stale_because(folder, model.meta, with_poverty_line(welfare_config, 37360)) == (
        "its ASP labels were drawn under the poverty line 32,360 KZT (configs/welfare.yaml "
        "thresholds.poverty_line_kzt is 37,360 KZT now), so its P(eligible) is the chance of "
        "per-capita income under 32,360 KZT"
    )
