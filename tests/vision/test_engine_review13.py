"""Scoring engine (review 13): heat maps need a readable model.pt and name only real classes,
`shanyraq score --explain` says so before scoring; a failed batch is not retried for callers
that left; a tie between not_dwelling and a room abstains as not a home."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ModelMismatchError
from tests.aio import run
from tests.refusals import error_code
from tests.vision.engine_fixtures import make_artifact, room_scene
from vision.batcher import MicroBatcher
from vision.engine import AbstainConfig, abstain_reasons
from vision.explain import heatmap
from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING


@pytest.fixture(scope="module")
def model(tmp_path_factory, taxonomy) -> Path:
    return make_artifact(tmp_path_factory.mktemp("review13") / "model", taxonomy, size=32)


def _without_torch_model(model: Path, folder: Path, *, junk: bool) -> Path:
    folder.mkdir()
    for name in ("model.json", "model.onnx"):
        shutil.copy(model / name, folder / name)
    if junk:
        (folder / "model.pt").write_bytes(b"not a torch checkpoint")
    return folder


@pytest.mark.parametrize("junk", [False, True], ids=["missing", "unreadable"])
def test_heat_maps_without_a_readable_model_pt_are_a_model_error(model, tmp_path, junk):
    folder = _without_torch_model(model, tmp_path / "m", junk=junk)
    with pytest.raises(ModelMismatchError, match=r"model\.pt") as caught:
        heatmap(folder, room_scene(1, height=64, width=64), head="room", label="kitchen")
    assert "export" in caught.value.message


@pytest.mark.parametrize("junk", [False, True], ids=["missing", "unreadable"])
def test_score_explain_refuses_a_model_without_model_pt_before_scoring(model, tmp_path, junk):
    folder = _without_torch_model(model, tmp_path / "m", junk=junk)
    photo = tmp_path / "room.png"
    Image.fromarray(room_scene(1, height=120, width=160)).save(photo)
    args = ["score", str(photo), "--model", str(folder), "--explain"]
    result = CliRunner().invoke(build_app(), [*args, "--explain-dir", str(tmp_path / "heat")])
    assert error_code(result.exception) == "model_mismatch", result.output
    assert "model.pt" in result.exception.message  # type: ignore[union-attr]
    assert result.stdout == ""  # refused before any photo was scored


@pytest.mark.parametrize("label", ["three", 3.5, True, 0, 6])
def test_a_condition_grade_that_does_not_exist_is_refused(model, label):
    rgb = room_scene(1, height=64, width=64)
    with pytest.raises(ValueError, match="is not a condition label"):
        heatmap(model, rgb, head="condition", label=label)


def test_a_condition_grade_may_be_named_as_text(model):
    rgb = room_scene(1, height=64, width=64)
    by_text = heatmap(model, rgb, head="condition", label="3")
    assert (by_text == heatmap(model, rgb, head="condition", label=3)).all()


def test_a_failed_batch_is_not_retried_for_a_caller_that_left():
    calls: list[list[int]] = []

    async def main() -> int:
        running, release = asyncio.Event(), asyncio.Event()

        async def engine(items: list[int]) -> list[int]:
            calls.append(list(items))
            if len(items) > 1:  # a whole batch fails (e.g. out of memory); one at a time works
                running.set()
                await release.wait()
                raise MemoryError("batch too large")
            return [10 * x for x in items]

        async with MicroBatcher(engine, max_batch=2, max_wait_ms=1_000) as batcher:
            kept = asyncio.create_task(batcher.submit(1))
            gone = asyncio.create_task(batcher.submit(2))
            await asyncio.wait_for(running.wait(), 5)
            gone.cancel()  # its caller timed out while the batch ran
            release.set()
            return await asyncio.wait_for(kept, 5)

    assert run(main()) == 10
    assert calls == [[1, 2], [1]]


def test_a_tie_between_not_dwelling_and_a_room_at_the_threshold_is_not_a_home():
    rule = AbstainConfig(min_room_probability=0.5, min_condition_probability=0.3)
    sure = {1: 0.05, 2: 0.05, 3: 0.8, 4: 0.05, 5: 0.05}
    tie = {"kitchen": 0.5, "bathroom": 0.0, "not_dwelling": 0.5}
    reversed_tie = dict(reversed(tie.items()))
    for room in (tie, reversed_tie):  # the label order must not decide it
        got = abstain_reasons(room, sure, None, abstain=rule, not_dwelling="not_dwelling")
        assert got == (ABSTAIN_NOT_DWELLING,)
    home = {"kitchen": 0.5, "bathroom": 0.1, "not_dwelling": 0.4}  # at the threshold: used
    assert abstain_reasons(home, sure, None, abstain=rule, not_dwelling="not_dwelling") == ()
    unsure = {"kitchen": 1 / 3, "bathroom": 1 / 3, "not_dwelling": 1 / 3}  # a guess either way
    got = abstain_reasons(unsure, sure, None, abstain=rule, not_dwelling="not_dwelling")
    assert got == (ABSTAIN_LOW_CONFIDENCE,)
