"""`annotate select` on a manifest whose photo files are missing or unreadable: one clear error
naming the row, never a bare OSError or a decoder message that names no photo."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from annotation.cli import app
from annotation.label_config import PhotoLabels
from annotation.manifest_selection import select_from_manifest
from annotation.scoring import write_scores
from annotation.select import SelectionParams
from shanyraq.errors import ShanyraqError
from shanyraq.manifest import read_manifest, write_manifest
from tests.refusals import error_code

from .helpers import make_manifest, score_for

runner = CliRunner()
GUESS = PhotoLabels("kitchen", 3, frozenset())


@pytest.fixture
def pool(tmp_path, taxonomy):
    """Four unlabelled photos (manifest.csv), their manifest and their scores by sha256."""
    manifest = tmp_path / "manifest.csv"
    make_manifest(tmp_path / "photos", manifest, 4, prefix="pool")
    data = read_manifest(manifest)
    scores = {r.sha256: score_for(r.sha256, GUESS, taxonomy, seed=i) for i, r in enumerate(data)}
    return manifest, data, scores


def _labelled(row):
    return replace(row, room="kitchen", condition=3, signs=frozenset())


@pytest.mark.parametrize("labelled", [False, True], ids=["candidate", "labelled"])
def test_a_photo_missing_from_disk_is_refused_naming_its_row(pool, labelled):
    _, data, scores = pool
    rows = list(data.rows)
    if labelled:  # a labelled photo is hashed too: it blocks its near-duplicates
        rows[2] = _labelled(rows[2])
    rows[2].resolve(data.root).unlink()
    with pytest.raises(ShanyraqError) as refused:
        select_from_manifest(rows, data.root, scores, SelectionParams(budget=2))
    assert error_code(refused.value) == "manifest_invalid"
    assert f"row {rows[2].path!r}" in refused.value.message
    assert "remove their rows" in refused.value.message


def test_select_with_a_missing_photo_is_one_domain_error_and_writes_nothing(tmp_path, pool):
    manifest, data, scores = pool
    scores_file = tmp_path / "scores.jsonl"
    write_scores(scores_file, list(scores.values()))
    data.rows[1].resolve(data.root).unlink()
    out = tmp_path / "picked.csv"
    args = ["select", str(manifest), "--budget", "2", "--scores", str(scores_file)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert isinstance(result.exception, ShanyraqError), repr(result.exception)
    assert data.rows[1].path in result.exception.message
    assert not out.exists() and not (tmp_path / "picked.csv.json").exists()


@pytest.mark.parametrize("labelled", [False, True], ids=["candidate", "labelled"])
def test_a_photo_that_cannot_be_decoded_is_refused_naming_its_row(pool, labelled):
    _, data, scores = pool
    rows = list(data.rows)
    if labelled:
        rows[3] = _labelled(rows[3])
    rows[3].resolve(data.root).write_bytes(b"not a photo at all, just text")
    with pytest.raises(ShanyraqError) as refused:
        select_from_manifest(rows, data.root, scores, SelectionParams(budget=2))
    message = refused.value.message
    assert error_code(refused.value) == "image_unsupported_format"
    assert f"manifest row {rows[3].path!r}" in message
    assert "remove its row" in message
    # The decoder's advice is for an inspector's upload, not for a manifest row.
    assert "send a JPEG" not in message


def test_an_unreadable_project_photo_outside_the_manifest_blocks_nothing(pool, tmp_path, caplog):
    """A photo of the Label Studio project whose file here cannot be decoded is logged and
    blocks no near-duplicates, as one with no file here is: it is not the manifest's to fix."""
    _, data, scores = pool
    broken = tmp_path / "elsewhere" / "broken.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"\x00" * 64)
    in_project = {"f" * 64: broken, "e" * 64: None}
    with caplog.at_level(logging.WARNING, logger="annotation.manifest_selection"):
        selection = select_from_manifest(
            data.rows, data.root, scores, SelectionParams(budget=2), in_project=in_project
        )
    assert len(selection.picked) == 2
    assert "2 photo(s) of the project have no readable file" in caplog.text
    assert str(broken) in caplog.text


def test_a_readable_project_photo_outside_the_manifest_still_blocks_its_copy(pool, tmp_path):
    _, data, scores = pool
    copy = tmp_path / "elsewhere" / "copy.jpg"
    copy.parent.mkdir()
    copy.write_bytes(data.rows[0].resolve(data.root).read_bytes())
    selection = select_from_manifest(
        data.rows, data.root, scores, SelectionParams(budget=4), in_project={"f" * 64: copy}
    )
    assert data.rows[0] not in selection.picked
    assert len(selection.picked) == 3 and selection.near_duplicates == 1


def test_the_same_pool_and_seed_give_the_same_picks_in_the_same_order(pool, tmp_path):
    manifest, data, scores = pool
    rows = list(data.rows)
    rows[0] = _labelled(rows[0])
    write_manifest(manifest, rows)
    params = SelectionParams(budget=2, seed=7)
    first = select_from_manifest(rows, data.root, scores, params)
    again = select_from_manifest(rows, data.root, scores, params)
    assert [r.path for r in first.picked] == [r.path for r in again.picked]
    assert rows[0] not in first.picked


@pytest.mark.parametrize(
    ("rows", "named"),
    [({"room": 4}, "room 4"), ({"signs": 8}, "signs 8"), ({"hashes": 9}, "hashes 9"),
     ({"hashes": 4}, "hashes 4")],
)  # fmt: skip
def test_select_batch_refuses_inputs_of_another_photo_count(rows, named):
    # Before: 4 probability rows for 6 photos picked among the first 4 alone; 9 hash rows were
    # taken as they came (other photos' hashes); 8 rows or 4 hashes were a bare IndexError.
    from annotation.select import select_batch
    from annotation.uncertainty import HeadProbabilities

    rng = np.random.default_rng(0)

    def probs(n: int, k: int) -> np.ndarray:
        p = rng.random((n, k))
        return p / p.sum(axis=1, keepdims=True)

    counts = {"room": 6, "condition": 6, "signs": 6, "hashes": 6, **rows}
    head = HeadProbabilities(
        room=probs(counts["room"], 6),
        condition=probs(counts["condition"], 5),
        signs=rng.random((counts["signs"], 8)),
    )
    hashes = rng.integers(0, 2**63, size=(counts["hashes"], 2), dtype=np.uint64)
    with pytest.raises(ValueError, match=f"6 photos' embeddings, but {named} rows"):
        select_batch(head, rng.random((6, 4)), SelectionParams(budget=2), hashes=hashes)
