"""`shanyraq annotate` through its Typer app: against the real server, and with it down."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from annotation.cli import app
from annotation.client import LabelStudioUnreachableError
from annotation.label_config import PhotoLabels
from annotation.scoring import write_scores
from annotation.settings import load_annotation_config
from shanyraq.errors import ConfigError
from shanyraq.manifest import read_manifest

from .helpers import make_manifest, score_for
from .label_studio_server_helpers import LabelStudioServer, free_port

runner = CliRunner()


def write_config(path: Path, *, url: str, title: str, document_root: Path) -> Path:
    config = {
        "server": {"url": url, "timeout_s": 5},
        "project": {"title": title, "document_root": str(document_root), "photos_folder": "photos"},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.integration
@pytest.mark.slow
def test_init_push_select_pull_from_the_command_line(
    label_studio: LabelStudioServer, taxonomy, tmp_path, monkeypatch
):
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", label_studio.legacy_token)
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    config = write_config(
        tmp_path / "annotation.yaml",
        url=label_studio.url,
        title="CLI project",
        document_root=label_studio.document_root,
    )
    manifest = tmp_path / "manifest.csv"
    rows = make_manifest(label_studio.photos_dir, manifest, 4, prefix="cli")
    scores = tmp_path / "scores.jsonl"
    guess = PhotoLabels("kitchen", 3, frozenset())
    write_scores(scores, [score_for(r.sha256, guess, taxonomy, seed=i) for i, r in enumerate(rows)])

    result = runner.invoke(app, ["init", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "created project 'CLI project'" in result.output

    picked = tmp_path / "picked.csv"
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(picked)]
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert len(read_manifest(picked).rows) == 2

    args = ["push", str(picked), "--scores", str(scores), "--config", str(config)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "pushed 2 task(s) (2 with predictions), skipped 0" in result.output

    # Selecting again with --skip-pushed never offers the photos already in the project.
    again = tmp_path / "again.csv"
    args = ["select", str(manifest), "--budget", "4", "--scores", str(scores), "--out", str(again)]
    result = runner.invoke(app, [*args, "--skip-pushed", "--config", str(config)])
    assert result.exit_code == 0, result.output
    first = {r.sha256 for r in read_manifest(picked).rows}
    assert {r.sha256 for r in read_manifest(again).rows} == {r.sha256 for r in rows} - first

    out = tmp_path / "pulled.csv"
    result = runner.invoke(app, ["pull", "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[: result.output.rindex("}") + 1])["photos"] == 0
    assert read_manifest(out).rows == []


def test_select_records_what_it_chose_from_and_how(tmp_path, taxonomy):
    """Offline (no --skip-pushed): picked.csv.json ties the picks to the pool manifest, the
    scores and their model, the configured parameters, the budget and seed, and the code."""
    from shanyraq import __version__
    from shanyraq.manifest import sha256_file

    manifest = tmp_path / "manifest.csv"
    rows = make_manifest(tmp_path / "photos", manifest, 4, prefix="sel")
    scores = tmp_path / "scores.jsonl"
    guess = PhotoLabels("kitchen", 3, frozenset())
    write_scores(scores, [score_for(r.sha256, guess, taxonomy, seed=i) for i, r in enumerate(rows)])
    picked = tmp_path / "picked.csv"
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(picked)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "picked.csv.json" in result.output
    record = json.loads((tmp_path / "picked.csv.json").read_text(encoding="utf-8"))
    assert record["manifest_sha256"] == sha256_file(manifest)
    assert record["out_sha256"] == sha256_file(picked)
    assert record["scores"] == {
        "from": "scores_file", "path": str(scores.resolve()), "sha256": sha256_file(scores),
        "model_versions": ["test-model-1"],
    }  # fmt: skip
    counts = (record["budget"], record["seed"], record["candidates"], record["picked"])
    assert counts == (2, 0, 4, 2)
    configured = load_annotation_config().selection
    assert record["params"]["pool_factor"] == configured.pool_factor
    assert record["params"]["near_duplicate_hash_bits"] == configured.near_duplicate_hash_bits
    assert record["params"]["head_weights"] == configured.head_weights
    assert record["skip_pushed"] is False and record["in_project"] is None
    assert record["code_version"].startswith(__version__)


def test_server_down_is_a_clear_error_and_loses_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_LABEL_STUDIO_TOKEN", "some-token")
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_URL", raising=False)
    config = write_config(
        tmp_path / "annotation.yaml",
        url=f"http://127.0.0.1:{free_port()}",
        title="Down",
        document_root=tmp_path,
    )
    out = tmp_path / "labels.csv"
    out.write_text("earlier labels\n", encoding="utf-8")
    args = ["pull", "--out", str(out), "--overwrite", "--config", str(config)]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, LabelStudioUnreachableError)
    assert "server is running" in result.exception.message
    assert out.read_text(encoding="utf-8") == "earlier labels\n"  # the last pull is kept


def test_missing_token_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SHANYRAQ_LABEL_STUDIO_TOKEN", raising=False)
    config = write_config(
        tmp_path / "a.yaml", url="http://127.0.0.1:9", title="Nope", document_root=tmp_path
    )
    result = runner.invoke(app, ["init", "--config", str(config)])
    assert isinstance(result.exception, ConfigError)
    assert "SHANYRAQ_LABEL_STUDIO_TOKEN" in result.exception.message


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadError("connection reset"), httpx.WriteError("broken pipe"),
     httpx.ProxyError("proxy down"), httpx.UnsupportedProtocol("ftp")],
)  # fmt: skip
def test_any_transport_failure_is_a_clear_unreachable_error(failure):
    from annotation.client import api_errors

    unreachable = pytest.raises(LabelStudioUnreachableError, match="cannot reach Label Studio")
    with unreachable, api_errors("pushing tasks", url="http://x"):
        raise failure
