"""`welfare` CLI: assess prints an Assessment; train then evaluate write models and a report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shanyraq.errors import InputFileError
from tests.welfare.families_helpers import family
from welfare.cli import app, data_note, notes
from welfare.simulate import NoiseModel

runner = CliRunner()


def test_assess_prints_an_advisory_assessment(tmp_path, welfare_config, trained):
    record = tmp_path / "family.json"
    record.write_text(json.dumps(family(welfare_config)))
    model = trained["lgbm_tabular"].save(tmp_path / "model")
    result = runner.invoke(app, ["assess", str(record), "--model", str(model)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["family_id"] == "f1"
    assert data["asp"] in ("eligible", "not_eligible", "needs_review")
    assert "0 usable photos; at least 1 needed" in data["review_reasons"]


def test_assess_refuses_a_bad_record(tmp_path, welfare_config):
    record = tmp_path / "family.json"
    record.write_text(json.dumps(family(welfare_config, members_total=0)))
    result = runner.invoke(app, ["assess", str(record)])
    assert result.exit_code != 0
    assert "members_total must be at least 1" in str(result.exception)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "file not found"),
        ("{not json", "not valid JSON at line 1, column 2"),
        ("[1, 2]", "expected one family record, a JSON object"),
        (b"\xff\xfe\x00", "is not UTF-8 text"),
    ],
)
def test_assess_names_an_unreadable_record_file(tmp_path, content, expected):
    record = tmp_path / "family.json"
    if isinstance(content, bytes):
        record.write_bytes(content)
    elif content is not None:
        record.write_text(content)
    result = runner.invoke(app, ["assess", str(record)])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputFileError)
    assert expected in result.exception.message and str(record) in result.exception.message


def test_assess_refuses_malformed_photo_scores_with_the_file_named(tmp_path, welfare_config):
    record = tmp_path / "family.json"
    record.write_text(json.dumps(family(welfare_config)))
    scores = tmp_path / "scores.json"
    for content, expected in [
        ('{"room": {}}', "expected a JSON list of photo score objects"),
        ('[{"room": {"kitchen": 1.0}}]', "1 of 1 photo score(s) cannot be used"),
    ]:
        scores.write_text(content)
        result = runner.invoke(app, ["assess", str(record), "--scores", str(scores)])
        assert isinstance(result.exception, InputFileError), result.output
        assert expected in result.exception.message and str(scores) in result.exception.message


@pytest.mark.slow
@pytest.mark.usefixtures("hand_made_synthetic")
def test_train_then_evaluate_writes_models_and_report(tmp_path, monkeypatch, welfare_config):
    monkeypatch.setattr("welfare.train.get_welfare_config", lambda: welfare_config)
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: welfare_config)
    models = tmp_path / "models"
    result = runner.invoke(
        app,
        [
            "train",
            "--out",
            str(models),
            "--n",
            "400",
            "--seed",
            "5",
            "--model",
            "rf_tabular",
            "--model",
            "rf_fused",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (models / "rf_fused" / "fusion.json").exists()
    page = tmp_path / "report.md"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(models),
            "--out",
            str(tmp_path / "plots"),
            "--markdown",
            str(page),
            "--n-boot",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "plots" / "metrics.json").read_text())
    assert set(metrics["models"]) == {"rf_tabular", "rf_fused"}
    assert (tmp_path / "plots" / "accuracy.png").stat().st_size > 1000
    text = page.read_text()
    assert "## Targets" in text and "simulated" in text
    assert metrics["context"]["welfare_config_sha256"] == welfare_config.digest()
    assert "code_version" in metrics["context"]


def test_unknown_model_name_is_refused(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path), "--model", "svm"])
    assert result.exit_code != 0
    assert "unknown models ['svm']" in result.output


def test_ceiling_records_the_recipe_evaluate_checks_it_against(
    tmp_path, monkeypatch, welfare_config
):
    measured = {"model": "lgbm_fused", "seed": 0, "rows": []}
    monkeypatch.setattr("welfare.ceiling.measure_ceiling", lambda **_: dict(measured))
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: welfare_config)
    result = runner.invoke(app, ["ceiling", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "ceiling.json").read_text())
    assert written["recipe"] == welfare_config.fusion.model_dump(mode="json")
    assert written["welfare_config_sha256"] == welfare_config.digest()
    assert written["code_version"] and written["command"].startswith("shanyraq welfare")


def test_data_note_and_notes_give_the_simulation_and_recipe_figures():
    shipped = data_note(NoiseModel())
    assert "room confusion 8 %" in shipped and "falsely seen 3 %" in shipped
    noise = NoiseModel(
        room_accuracy=0.9,
        condition_off_by_one=0.2,
        sign_miss=0.1,
        sign_false_alarm=0.05,
        low_confidence_rate=0.02,
    )
    note = data_note(noise)
    for words in (
        "room confusion 10 %",
        "off by one grade 20 % of the time",
        "signs drawn as missed 10 % and as falsely seen 5 % of the time",
        "2 % low-confidence abstentions",
    ):
        assert words in note
    assert "30 % of it calibrates" in notes(calibration_fraction=0.3)[0]
