"""Review 29: shutdown waited for a model call running within its uploads' timeout up to the whole
`score_timeout_s` (30 s), the grace period Kubernetes gives a stop, so a hung model had the pod
killed before the log said so and before the database closed. Now it waits at most
`batching.shutdown_wait_s` (10 s shipped), batching on or off, then abandons the call and says
so, and the process exits."""

from __future__ import annotations

import re

import pytest
import yaml

from serving.core.config import Batching, load_serving_settings
from shanyraq.errors import ConfigError
from tests.serving.helpers import ROOT
from tests.serving.subprocess_runs import run_script

# Started as a process of its own: the pipeline serving.yaml's `batching` makes, whose model
# hangs; one upload's call is running, far from its timeout, when the pipeline closes.
_SHUTDOWN_WHILE_HUNG = """
import asyncio, logging, sys
from types import SimpleNamespace
import numpy as np
from serving.core.config import Batching
from serving.pipeline import PhotoPipeline
from tests.serving.helpers import HungEngine

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
engine = HungEngine()
batching = Batching(enabled=sys.argv[1] == "on", max_batch=2, max_wait_ms=0.0,
                    score_timeout_s=600.0, shutdown_wait_s=float(sys.argv[2]), max_queued=4)
pipeline = PhotoPipeline.from_config(engine, batching)
photo = SimpleNamespace(model_input=np.zeros((3, 32, 32), np.float32), quality=None,
                        decoded=SimpleNamespace(sha256="0" * 64))

async def main():
    upload = asyncio.create_task(pipeline.score(photo))
    print("called:", await asyncio.to_thread(engine.called.wait, 30), flush=True)
    await pipeline.aclose()
    print("closed", flush=True)
    if sys.argv[1] == "on":  # the batcher answers its callers as it abandons their call
        await asyncio.wait([upload], timeout=30)
        print("upload:", upload.exception() if upload.done() else "still waiting", flush=True)

asyncio.run(main())
"""

EXIT_BOUND_S = 60.0  # it exits in about a second; before, it waited for the model (20 s here)


@pytest.mark.parametrize("batching", ["on", "off"], ids=["micro-batcher", "one call each"])
def test_shutdown_abandons_a_hung_call_within_its_timeout_after_the_shutdown_wait(batching):
    ran = run_script(_SHUTDOWN_WHILE_HUNG, batching, "0.5", bound_s=EXIT_BOUND_S)
    stdout, stderr = ran.stdout, ran.stderr
    assert ran.returncode == 0, stderr
    assert "called: True" in stdout
    assert "closed" in stdout
    # The call was abandoned, not waited out: it was within its upload's 600 s timeout.
    assert re.search(
        r"WARNING:serving\.pipeline:shutdown abandoned 1 photo model call\(s\) still running "
        r"after [\d.]+ s, 0 of them past their uploads' timeout \(a call is waited for at most "
        r"0\.5 s: batching\.shutdown_wait_s, never past score_timeout_s\)",
        stderr,
    ), stderr
    if batching == "on":  # its upload is told, not left waiting
        assert "upload: the service is shutting down" in stdout


def test_the_shipped_shutdown_wait_is_the_default_and_under_the_score_timeout():
    shipped = yaml.safe_load((ROOT / "configs" / "serving.yaml").read_text())["batching"]
    assert shipped["shutdown_wait_s"] == Batching().shutdown_wait_s
    assert shipped["shutdown_wait_s"] < shipped["score_timeout_s"]


def test_the_shutdown_wait_is_read_from_the_environment_and_may_be_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_SERVING__BATCHING__SHUTDOWN_WAIT_S", "0")
    settings = load_serving_settings(data_dir=tmp_path)
    assert settings.batching.shutdown_wait_s == 0.0
    assert settings.batching.score_timeout_s == 30.0  # the rest of the section as shipped


@pytest.mark.parametrize("value", [-1, "inf"])
def test_a_negative_or_endless_shutdown_wait_is_refused(tmp_path, value):
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump({"batching": {"shutdown_wait_s": value}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"batching\.shutdown_wait_s"):
        load_serving_settings(path)
