"""A score whose probabilities are not numbers (NaN or inf: an fp16 overflow on a GPU, a broken
model) abstains, and its dict is still JSON: null where the model gave no number, NaN again
when read back, so a stored score round-trips and still abstains. `shanyraq score` prints it
as strict JSON (--json) and as a table line without a made-up room or grade."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shanyraq.cli import build_app
from tests.vision.engine_fixtures import make_artifact, nan_heads, room_scene
from vision.engine import Engine, abstain_reasons, get_engine_config
from vision.score import ABSTAIN_LOW_CONFIDENCE, PhotoScore


def _judged(score: PhotoScore, taxonomy: Any) -> tuple[str, ...]:
    return abstain_reasons(
        score.room, score.condition, None, abstain=get_engine_config().abstain,
        not_dwelling=taxonomy.not_dwelling, signs=score.signs,
    )  # fmt: skip


def _score(taxonomy: Any, *, room: float, condition: float, sign: float) -> PhotoScore:
    """A score with one probability per head replaced by the given value."""
    rooms = dict.fromkeys(taxonomy.room_names, 1 / len(taxonomy.room_names))
    grades = dict.fromkeys(taxonomy.condition_values, 1 / len(taxonomy.condition_values))
    signs = dict.fromkeys(taxonomy.sign_names, 0.1)
    rooms[taxonomy.room_names[0]] = room
    grades[taxonomy.condition_values[-1]] = condition
    signs[taxonomy.sign_names[0]] = sign
    score = PhotoScore(
        photo_sha256="ab" * 32, model_version="test-0", room=rooms, condition=grades,
        signs=signs, embedding=np.zeros(4, dtype=np.float32),
    )  # fmt: skip
    reasons = _judged(score, taxonomy)
    return replace(score, abstain=bool(reasons), abstain_reasons=reasons)


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, np.float32("nan")], ids=["nan", "inf", "-inf", "f32nan"]
)
def test_a_non_finite_probability_is_null_in_json_and_nan_when_read_back(taxonomy, bad):
    score = _score(taxonomy, room=bad, condition=bad, sign=bad)
    assert score.abstain and ABSTAIN_LOW_CONFIDENCE in score.abstain_reasons
    data = score.to_dict()
    text = json.dumps(data, allow_nan=False)  # strict JSON: the API's and PostgreSQL's rule
    room, grade, sign = (
        taxonomy.room_names[0],
        taxonomy.condition_values[-1],
        taxonomy.sign_names[0],
    )
    loaded = json.loads(text)
    assert loaded["room"][room] is None
    assert loaded["condition"][str(grade)] is None
    assert loaded["signs"][sign] is None
    # Only the probabilities the model gave no number for are null.
    assert loaded["room"][taxonomy.room_names[1]] == score.room[taxonomy.room_names[1]]
    assert loaded["signs"][taxonomy.sign_names[1]] == pytest.approx(0.1)

    again = PhotoScore.from_dict(loaded)
    assert math.isnan(again.room[room]) and math.isnan(again.condition[grade])
    assert math.isnan(again.signs[sign])
    assert again.room[taxonomy.room_names[1]] == score.room[taxonomy.room_names[1]]
    assert again.abstain and again.abstain_reasons == score.abstain_reasons
    # Judged again (a re-read of the stored score), it still abstains for low confidence.
    assert ABSTAIN_LOW_CONFIDENCE in _judged(again, taxonomy)
    assert json.dumps(again.to_dict(), allow_nan=False) == text  # stable once stored


def test_a_non_finite_embedding_value_is_null_with_the_embedding(taxonomy):
    """As `annotate push --save-scores` writes it: strict JSON, NaN again when read back."""
    score = _score(taxonomy, room=math.nan, condition=math.nan, sign=math.nan)
    score = replace(score, embedding=np.array([0.5, np.nan, np.inf, 1.0], dtype=np.float32))
    assert not score.finite
    text = json.dumps(score.to_dict(with_embedding=True), allow_nan=False)
    assert json.loads(text)["embedding"] == [0.5, None, None, 1.0]
    again = PhotoScore.from_dict(json.loads(text))
    assert again.embedding.dtype == np.float32 and again.embedding[[0, 3]].tolist() == [0.5, 1.0]
    assert np.isnan(again.embedding[[1, 2]]).all()


def test_finite_means_every_probability_and_embedding_value(taxonomy):
    score = _score(taxonomy, room=0.5, condition=0.2, sign=0.7)
    assert score.finite
    assert not replace(score, embedding=np.array([np.nan], dtype=np.float32)).finite
    assert not _score(taxonomy, room=0.5, condition=0.2, sign=math.inf).finite


def test_a_finite_score_round_trips_unchanged(taxonomy):
    score = _score(taxonomy, room=0.5, condition=0.2, sign=0.7)
    data = score.to_dict()
    assert None not in (*data["room"].values(), *data["condition"].values())
    again = PhotoScore.from_dict(json.loads(json.dumps(data, allow_nan=False)))
    assert again == score and again.to_dict() == data


# --- shanyraq score, with the engine's head logits NaN ------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("nonfinite") / "model", taxonomy, size=32)


@pytest.fixture
def nan_engine(monkeypatch):
    """Every Engine's raw outputs come back with NaN head logits (run_logits wrapped): an fp16
    overflow on a GPU cannot be made to happen here."""
    real = Engine.run_logits

    def run_logits(self: Engine, batch: np.ndarray) -> dict[str, np.ndarray]:
        return nan_heads(self, real(self, batch))

    monkeypatch.setattr(Engine, "run_logits", run_logits)


def _photo(folder: Path) -> str:
    path = folder / "room.png"
    Image.fromarray(room_scene(1, height=120, width=160)).save(path)
    return str(path)


def test_score_json_is_strict_json_with_nulls(model, tmp_path, nan_engine):
    photo = _photo(tmp_path)
    result = CliRunner().invoke(build_app(), ["score", photo, "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()

    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant} in {line}")

    record = json.loads(line, parse_constant=refuse)
    score = record["score"]
    for head in ("room", "condition", "signs"):
        assert set(score[head].values()) == {None}, head
    assert score["abstain"] and ABSTAIN_LOW_CONFIDENCE in score["abstain_reasons"]


def test_score_table_line_shows_no_room_or_grade_for_a_nan_score(model, tmp_path, nan_engine):
    photo = _photo(tmp_path)
    result = CliRunner().invoke(build_app(), ["score", photo, "--model", str(model)])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert "room -" in line and "condition -" in line and "signs -" in line
    assert ABSTAIN_LOW_CONFIDENCE in line.split("ABSTAIN (", 1)[1]
    assert "nan" not in line.lower().replace(photo.lower(), "")
