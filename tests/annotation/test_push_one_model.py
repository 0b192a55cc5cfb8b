"""`annotate push --scores` of several photo models' scores: refused before the server is asked.

Label Studio shows annotators the predictions of the project's model version only; push used
to set the alphabetically last version of a mixed file, leaving the other model's photos
without their pre-annotation.
"""

from __future__ import annotations

from dataclasses import replace

from typer.testing import CliRunner

from annotation.cli import app
from annotation.label_config import PhotoLabels
from annotation.scoring import read_scores, write_scores
from tests.annotation.helpers import down_server_config
from tests.refusals import error_code

from .helpers import make_manifest, score_for


def test_a_scores_file_of_two_models_is_refused_naming_them(tmp_path, taxonomy):
    manifest = tmp_path / "manifest.csv"
    rows = make_manifest(tmp_path / "photos", manifest, 2, prefix="mixed")
    guess = PhotoLabels("kitchen", 3, frozenset())
    first, second = (score_for(r.sha256, guess, taxonomy, seed=i) for i, r in enumerate(rows))
    scores = tmp_path / "scores.jsonl"
    write_scores(scores, [first, replace(second, model_version="m-2")])
    assert {s.model_version for s in read_scores(scores).values()} == {"test-model-1", "m-2"}
    config = down_server_config(tmp_path / "annotation.yaml", tmp_path)  # nobody listens there
    result = CliRunner().invoke(
        app, ["push", str(manifest), "--scores", str(scores), "--config", str(config)]
    )
    # Refused for the scores, not for the server: nothing was asked of it.
    assert error_code(result.exception) == "annotation_scores_invalid", result.output
    assert "2 photo models (m-2, test-model-1)" in result.exception.message
    assert "push one model's scores at a time" in result.exception.message
