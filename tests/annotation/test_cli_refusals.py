"""`shanyraq annotate` refuses bad settings and options up front, and writes a selection whole.

No Label Studio is needed: "down" is a closed port on 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from annotation.cli import app
from shanyraq.manifest import ManifestRow, read_manifest, write_manifest
from tests.annotation.helpers import down_server_config
from tests.refusals import error_code, must_not_run

runner = CliRunner()


# --- Label Studio URL and token ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1", "is not a valid URL"),
        ("not a url", "is not an http(s) URL with a host"),
        ("ftp://example.org", "is not an http(s) URL with a host"),
        ("http://", "is not an http(s) URL with a host"),
        ("http://127.0.0.1:99999", "is not a valid URL"),
    ],
)
def test_a_malformed_url_from_the_environment_is_a_config_error(monkeypatch, url, words):
    from annotation.settings import load_annotation_config

    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_URL", url)
    with pytest.raises(Exception) as refused:
        load_annotation_config()
    assert error_code(refused.value) == "config_invalid", repr(refused.value)
    assert words in refused.value.message
    assert "SHANYRAQ_LABEL_STUDIO_URL" in refused.value.message


def test_a_malformed_url_in_the_yaml_names_the_file(tmp_path, monkeypatch):
    from annotation.settings import load_annotation_config

    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    path = tmp_path / "annotation.yaml"
    path.write_text("server:\n  url: 'http://[::1'\n", encoding="utf-8")
    with pytest.raises(Exception) as refused:
        load_annotation_config(path)
    assert error_code(refused.value) == "config_invalid", repr(refused.value)
    assert f"server.url in {path}" in refused.value.message


def test_init_with_a_malformed_url_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_URL", "http://[::1")
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", "abc123")
    config = down_server_config(tmp_path / "a.yaml", tmp_path)  # the env's URL wins over its own
    result = runner.invoke(app, ["init", "--config", str(config)])
    assert error_code(result.exception) == "config_invalid", repr(result.exception)


def test_a_url_that_reaches_the_client_unchecked_is_a_clear_error():
    from annotation.client import LabelStudioError, connect

    with pytest.raises(LabelStudioError, match="not a valid URL"):
        connect("http://[::1", "abc123", timeout_s=1)


@pytest.mark.parametrize("token", ["tökén", "abc\ndef", "abc\x01def", "“abc123”"])
def test_a_token_no_header_can_carry_is_refused_without_showing_it(monkeypatch, token):
    from annotation.settings import token_from_env

    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", token)
    with pytest.raises(Exception) as refused:
        token_from_env()
    assert error_code(refused.value) == "config_invalid", repr(refused.value)
    assert "SHANYRAQ_LABEL_STUDIO_TOKEN" in refused.value.message
    assert token.strip("“”") not in refused.value.message


def test_init_with_a_non_ascii_token_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", "tökén")
    config = down_server_config(tmp_path / "a.yaml", tmp_path)
    result = runner.invoke(app, ["init", "--config", str(config)])
    assert error_code(result.exception) == "config_invalid", repr(result.exception)


# --- annotate push: connect before scoring -----------------------------------------------


def test_push_connects_before_it_scores(tmp_path, monkeypatch, pool):
    manifest, _ = pool
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", "abc123")
    monkeypatch.setattr("annotation.scoring.score_manifest", must_not_run("scoring"))
    config = down_server_config(tmp_path / "a.yaml", tmp_path)
    saved = tmp_path / "saved.jsonl"
    args = ["push", str(manifest), "--model", str(tmp_path / "model"), "--save-scores", str(saved)]
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert error_code(result.exception) == "label_studio_unreachable", repr(result.exception)
    assert not saved.exists()


def test_push_refuses_model_and_scores_together(tmp_path, monkeypatch, pool):
    manifest, scores = pool
    monkeypatch.setattr("annotation.cli._connect", must_not_run("connecting"))
    args = ["push", str(manifest), "--scores", str(scores), "--model", str(tmp_path / "model")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "not both" in result.output


# --- annotate select ---------------------------------------------------------------------


def test_select_refuses_model_and_scores_together(tmp_path, pool):
    manifest, scores = pool
    out = tmp_path / "picked.csv"
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(out)]
    result = runner.invoke(app, [*args, "--model", str(tmp_path / "model")])
    assert result.exit_code == 2, result.output
    assert "--model DIR or --scores FILE, not both" in result.output
    assert not out.exists()


@pytest.mark.parametrize("labelled", [True, False])
def test_select_on_a_pool_with_nothing_unlabelled_is_refused(tmp_path, pool, labelled):
    manifest, scores = pool
    rows = read_manifest(manifest).rows
    done = [
        ManifestRow(r.path, r.sha256, r.family_id, r.split, "kitchen", 3, frozenset(), r.source)
        for r in rows
    ]
    write_manifest(manifest, done if labelled else [])
    out = tmp_path / "picked.csv"
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(out)]
    result = runner.invoke(app, args)
    assert error_code(result.exception) == "nothing_to_select", repr(result.exception)
    assert f"no unlabelled photos in {manifest}" in result.exception.message
    assert not out.exists() and not (tmp_path / "picked.csv.json").exists()


def test_select_with_every_unlabelled_photo_already_pushed_is_refused(tmp_path, pool, taxonomy):
    from annotation.manifest_selection import select_from_manifest
    from annotation.scoring import read_scores
    from annotation.select import SelectionParams

    manifest, scores = pool
    data = read_manifest(manifest)
    in_project = {r.sha256: None for r in data.rows}
    with pytest.raises(Exception) as refused:
        select_from_manifest(
            data.rows, data.root, read_scores(scores), SelectionParams(budget=2),
            in_project=in_project,
        )  # fmt: skip
    assert error_code(refused.value) == "nothing_to_select", repr(refused.value)
    assert "4 are already in the Label Studio project" in refused.value.message


def test_select_refuses_a_record_path_that_is_a_folder_before_writing(tmp_path, pool, monkeypatch):
    manifest, scores = pool
    monkeypatch.setattr("annotation.scoring.read_scores", must_not_run("reading the scores"))
    out = tmp_path / "sel" / "picked.csv"
    (tmp_path / "sel" / "picked.csv.json").mkdir(parents=True)
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(out)]
    result = runner.invoke(app, args)
    assert error_code(result.exception) == "input_file_invalid", repr(result.exception)
    assert "picked.csv.json is a folder" in result.exception.message
    assert sorted(p.name for p in out.parent.iterdir()) == ["picked.csv.json"]


def test_select_refuses_to_replace_the_pool_with_the_picks(pool):
    manifest, scores = pool
    before = manifest.read_bytes()
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores)]
    result = runner.invoke(app, [*args, "--out", str(manifest)])
    assert error_code(result.exception) == "input_file_invalid", repr(result.exception)
    assert "is the pool manifest itself" in result.exception.message
    assert manifest.read_bytes() == before


def test_a_failed_record_leaves_the_earlier_selection_whole(tmp_path, pool, monkeypatch):
    """The picks and their record are written as a pair: if the record cannot be made, the
    earlier picks and record stay as they were and no temporary file is left."""
    manifest, scores = pool
    out = tmp_path / "picked.csv"
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    picks, record = out.read_bytes(), (tmp_path / "picked.csv.json").read_bytes()

    def broken(*a, **k):
        raise RuntimeError("record failed")

    monkeypatch.setattr("annotation.manifest_selection.selection_record", broken)
    result = runner.invoke(app, [*args[:3], "3", *args[4:], "--overwrite"])  # other picks
    assert isinstance(result.exception, RuntimeError)
    assert out.read_bytes() == picks
    assert (tmp_path / "picked.csv.json").read_bytes() == record
    assert not list(tmp_path.glob("picked.csv*.tmp*"))

    monkeypatch.undo()  # and a selection that succeeds replaces both, matching each other
    from shanyraq.manifest import sha256_file

    assert runner.invoke(app, [*args[:3], "3", *args[4:], "--overwrite"]).exit_code == 0
    written = json.loads((tmp_path / "picked.csv.json").read_text())
    assert len(read_manifest(out).rows) == 3 and written["picked"] == 3
    assert written["out_sha256"] == sha256_file(out) and written["out"] == str(out.resolve())
