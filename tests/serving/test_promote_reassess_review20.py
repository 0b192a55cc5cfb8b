"""`rescore promote --reassess`, review 20: a database error while reassessing (after the
promotion is done and audited) ends as `reassess_stopped`, saying the promotion is done and
which command recomputes the rest, not as a traceback."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from serving.rescore_cli import app as rescore_app
from serving.rescore_promote_cli import ReassessStoppedError
from tests.serving.rescore_fixtures import cli_config
from tests.shanyraq.cli_helpers import run_main


def test_a_database_error_while_reassessing_says_the_promotion_is_done(
    tmp_path: Path, models: tuple[Path, Path], monkeypatch, capsys
) -> None:
    _, new = models
    config = cli_config(tmp_path, 4, model_dir=new)
    runner, common = CliRunner(), ["--config", str(config), "--no-progress"]
    scored = runner.invoke(rescore_app, ["--model", str(new), "--device", "cpu", *common])
    assert scored.exit_code == 0, scored.output

    def lost(*args, **kwargs):
        cause = Exception("disk I/O error")
        raise OperationalError("UPDATE families SET ...", {"id": "F-1"}, cause)

    monkeypatch.setattr("serving.reassessment.reassess", lost)
    args = ["promote", "--model", str(new), "--reassess", "--as", "admin", *common]
    done = runner.invoke(rescore_app, args)
    assert isinstance(done.exception, ReassessStoppedError), done.output
    message = str(done.exception)
    assert "promotion above is done and audited" in message
    assert "OperationalError: disk I/O error" in message
    assert "UPDATE families" not in message and "F-1" not in message  # no statement or values
    assert f"assessments refresh --as admin --config {config}" in message
    assert "updated now: 4 photo(s)" in done.output
    # Through the command's entry: exit 3, promoted but not reassessed (a refusal is 2).
    status, _, err = run_main(monkeypatch, capsys, "rescore", *args)
    assert status == 3 and "[reassess_stopped]" in err
