"""Review 30: with batching on, a model call hung at shutdown logged two warnings, the batcher's
and the pipeline's, for one event; now one, the pipeline's, says how many calls were abandoned,
after how long and how many were late. And the rule for a late call (past the deadline of every
upload it scores) was written twice, with two behaviours at shutdown: an unbatched call stopped
being waited for once late, a batch was waited for until `shutdown_wait_s` ended all the same.
Now both paths keep their calls in one `vision.late_calls.RunningCalls`, and shutdown stops
waiting for a call as it turns late, batching on or off."""

from __future__ import annotations

import re

import pytest

from tests.serving.subprocess_runs import run_script

# Started as a process of its own: the pipeline serving.yaml's `batching` makes, whose model
# hangs (until `release`, or HUNG_CALL_BOUND_S), with one upload's call running when it closes.
_PIPELINE = """
import asyncio, logging, sys
from types import SimpleNamespace
import numpy as np
from serving.core.config import Batching
from serving.pipeline import PhotoPipeline
from tests.serving.helpers import HungEngine

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
engine = HungEngine()
batching = Batching(enabled=sys.argv[1] == "on", max_batch=2, max_wait_ms=0.0,
                    score_timeout_s=float(sys.argv[2]), shutdown_wait_s=float(sys.argv[3]),
                    max_queued=4)
pipeline = PhotoPipeline.from_config(engine, batching)
photo = SimpleNamespace(model_input=np.zeros((3, 32, 32), np.float32), quality=None,
                        decoded=SimpleNamespace(sha256="0" * 64))
"""

# The call is far within its upload's timeout when the stop comes; the wait ends first.
_HUNG_AT_SHUTDOWN = (
    _PIPELINE
    + """
async def main():
    upload = asyncio.create_task(pipeline.score(photo))
    print("called:", await asyncio.to_thread(engine.called.wait, 30), flush=True)
    await pipeline.aclose()
    print("closed", flush=True)

asyncio.run(main())
"""
)

# The call has run `age` seconds (argv[4]) of its upload's `score_timeout_s` when the stop
# comes, so it turns late during the shutdown wait; the model returns `after` seconds
# (argv[5]) after the upload was refused at its timeout, well before that wait would end.
_LATE_DURING_THE_WAIT = (
    _PIPELINE
    + """
async def main():
    upload = asyncio.create_task(pipeline.score(photo))
    assert await asyncio.to_thread(engine.called.wait, 30)
    await asyncio.sleep(float(sys.argv[4]))  # how old the call is when the stop comes
    closing = asyncio.create_task(pipeline.aclose())
    await asyncio.wait([upload])
    print("upload:", upload.exception(), flush=True)
    await asyncio.sleep(float(sys.argv[5]))  # then the model returns, late
    engine.release.set()
    await closing
    print("closed", flush=True)

asyncio.run(main())
"""
)

EXIT_BOUND_S = 60.0  # each exits within seconds; a hung call waited for holds it 20 s


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING:")]


@pytest.mark.parametrize("batching", ["on", "off"], ids=["micro-batcher", "one call each"])
def test_a_call_abandoned_at_shutdown_is_one_warning_that_says_it_all(batching):
    ran = run_script(_HUNG_AT_SHUTDOWN, batching, "600", "0.5", bound_s=EXIT_BOUND_S)
    assert ran.returncode == 0, ran.stderr
    assert "called: True" in ran.stdout and "closed" in ran.stdout
    # Batched, the batcher said "micro-batcher closed, its model call still running" too.
    (warning,) = _warnings(ran.stderr)
    assert re.fullmatch(
        r"WARNING:serving\.pipeline:shutdown abandoned 1 photo model call\(s\) still running "
        r"after [\d.]+ s, 0 of them past their uploads' timeout \(a call is waited for at most "
        r"0\.5 s: batching\.shutdown_wait_s, never past score_timeout_s\); a hung model cannot "
        r"be stopped, and the process exits without them",
        warning,
    ), warning


@pytest.mark.parametrize("batching", ["on", "off"], ids=["micro-batcher", "one call each"])
def test_shutdown_stops_waiting_for_a_call_as_it_turns_late_batching_on_or_off(batching):
    # score_timeout_s 3 s, shutdown_wait_s 30 s: the stop may wait 3 s. It comes when the call
    # has run 2 s, so the call turns late 1 s into the wait; the model returns 1 s later. A
    # batch was waited for the whole 3 s: the model returned within them, and the batch was
    # not abandoned. An unbatched call was abandoned as it turned late, as now both are.
    ran = run_script(_LATE_DURING_THE_WAIT, batching, "3", "30", "2", "1", bound_s=EXIT_BOUND_S)
    assert ran.returncode == 0, ran.stderr
    # Refused at its timeout, or (by a hair, the same instant) as its call was abandoned.
    assert re.search(r"upload: .*; nothing was stored", ran.stdout), ran.stdout
    assert "closed" in ran.stdout
    (warning,) = _warnings(ran.stderr)
    assert re.match(
        r"WARNING:serving\.pipeline:shutdown abandoned 1 photo model call\(s\) still running "
        r"after [\d.]+ s, 1 of them past their uploads' timeout",
        warning,
    ), warning
