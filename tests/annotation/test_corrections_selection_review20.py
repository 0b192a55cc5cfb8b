"""`annotate select --out OUT` with OUT in another folder than the pool manifest: a manifest's
paths are read relative to its own folder, so the picks must name their photos from there, or
`annotate push OUT` finds none of them."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from annotation.label_config import PhotoLabels
from annotation.manifest_selection import (
    select_from_manifest,
    write_selection,
)
from annotation.select import SelectionParams
from shanyraq.manifest import read_manifest, sha256_file

from .helpers import make_manifest, score_for

GUESS = PhotoLabels("kitchen", 3, frozenset())


@pytest.fixture
def pool(tmp_path, taxonomy):
    """Four unlabelled photos listed in pool/manifest.csv, and their scores by sha256."""
    manifest = tmp_path / "pool" / "manifest.csv"
    make_manifest(tmp_path / "pool" / "photos", manifest, 4, prefix="p")
    data = read_manifest(manifest)
    scores = {r.sha256: score_for(r.sha256, GUESS, taxonomy, seed=i) for i, r in enumerate(data)}
    return manifest, data, scores


def _write(out, picked, root, manifest):
    return write_selection(
        out,
        picked,
        lambda written: {"out_sha256": sha256_file(written), "manifest": str(manifest)},
        root=root,
    )


@pytest.mark.parametrize("where", ["sibling", "child", "parent"])
def test_picks_written_in_another_folder_name_the_pools_photos(tmp_path, pool, where):
    manifest, data, scores = pool
    out = {
        "sibling": tmp_path / "picks" / "batch.csv",
        "child": tmp_path / "pool" / "batches" / "1" / "batch.csv",
        "parent": tmp_path / "batch.csv",
    }[where]
    out.parent.mkdir(parents=True, exist_ok=True)
    selection = select_from_manifest(data.rows, data.root, scores, SelectionParams(budget=3))
    record_path = _write(out, selection.picked, data.root, manifest)

    written = read_manifest(out)
    assert len(written.rows) == 3
    for row, was in zip(written.rows, selection.picked, strict=True):
        photo = row.resolve(written.root)
        assert photo.is_file(), f"{row.path} is not there from {out.parent}"
        assert photo.resolve() == was.resolve(data.root).resolve()
        assert sha256_file(photo) == row.sha256 == was.sha256
        assert replace(row, path=was.path) == was  # only the path changes
    # The record names the file as written, paths rewritten.
    assert json.loads(record_path.read_text())["out_sha256"] == sha256_file(out)


def test_picks_written_beside_the_pool_keep_their_paths_as_given(tmp_path, pool):
    manifest, data, scores = pool
    rows = [replace(r, path="./" + r.path) for r in data.rows]  # as a person may write them
    out = manifest.parent / "batch.csv"
    selection = select_from_manifest(rows, data.root, scores, SelectionParams(budget=2))
    _write(out, selection.picked, data.root, manifest)
    assert [r.path for r in read_manifest(out).rows] == [r.path for r in selection.picked]


def test_an_absolute_photo_path_is_kept(tmp_path, pool):
    manifest, data, scores = pool
    rows = [replace(r, path=str(r.resolve(data.root))) for r in data.rows]
    out = tmp_path / "picks" / "batch.csv"
    out.parent.mkdir()
    selection = select_from_manifest(rows, data.root, scores, SelectionParams(budget=2))
    _write(out, selection.picked, data.root, manifest)
    paths = [r.path for r in read_manifest(out).rows]
    assert paths == [r.path for r in selection.picked]
    assert all(os.path.isabs(p) for p in paths)


def test_annotate_select_writes_picks_that_read_from_another_folder(tmp_path, taxonomy):
    # Through the command: `annotate select pool/manifest.csv --out picks/batch.csv` wrote
    # the pool's paths as they were, read back under picks/ where no photo is.
    from typer.testing import CliRunner

    from annotation.cli import app
    from annotation.scoring import write_scores

    manifest = tmp_path / "pool" / "manifest.csv"
    rows = make_manifest(tmp_path / "pool" / "photos", manifest, 4, prefix="cli")
    scores = tmp_path / "scores.jsonl"
    write_scores(scores, [score_for(r.sha256, GUESS, taxonomy, seed=i) for i, r in enumerate(rows)])
    out = tmp_path / "picks" / "batch.csv"
    out.parent.mkdir()
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    picked = read_manifest(out)
    assert len(picked.rows) == 2
    for row in picked.rows:
        assert sha256_file(row.resolve(picked.root)) == row.sha256
    record = json.loads((out.parent / f"{out.name}.json").read_text())
    assert record["out_sha256"] == sha256_file(out)  # the picks as written, paths rewritten
