"""Helpers for the engine tests: tiny exported model artifacts, synthetic room-like photos, the
engine settings the engine tests share, and raw outputs whose heads are NaN."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from shanyraq.taxonomy import Taxonomy
from vision.artifact import Temperatures
from vision.engine import AbstainConfig, Engine, EngineConfig, load_engine_config
from vision.export import ExportRequest, export_artifact
from vision.model import create_model, model_preprocessing


def room_scene(seed: int, *, height: int = 480, width: int = 640) -> np.ndarray:
    """A textured, room-like RGB photo: wall, floor, furniture, a window, fine detail."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    horizon = int(height * rng.uniform(0.55, 0.75))
    wall, floor = rng.integers(90, 220, 3), rng.integers(40, 160, 3)
    image[:horizon] = wall
    image[horizon:] = floor
    for _ in range(int(rng.integers(4, 9))):  # furniture and pictures
        x0, y0 = int(rng.integers(0, width * 15 // 16)), int(rng.integers(0, height * 15 // 16))
        x1 = x0 + int(rng.integers(width // 20, width // 3))
        y1 = y0 + int(rng.integers(height // 16, height // 3))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness=-1)
        cv2.rectangle(image, (x0, y0), (x1, y1), (20, 20, 20), thickness=2)
    wx, wy = int(rng.integers(0, width // 2)), int(rng.integers(0, horizon // 3 + 1))
    cv2.rectangle(image, (wx, wy), (wx + width // 5, wy + height // 4), (235, 240, 250), -1)
    for _ in range(40):  # fine lines: the detail a sharp photo keeps and a blurred one loses
        p0 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p1 = (
            p0[0] + int(rng.integers(-width // 10, width // 10)),
            p0[1] + int(rng.integers(-width // 10, width // 10)),
        )
        cv2.line(image, p0, p1, tuple(int(c) for c in rng.integers(0, 255, 3)), 1)
    noise = rng.normal(0.0, 4.0, image.shape)
    return np.clip(image.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def make_artifact(
    folder: Path,
    taxonomy: Taxonomy,
    *,
    room_bias: dict[str, float] | None = None,
    temperatures: Temperatures | None = None,
    seed: int = 0,
    size: int = 32,
) -> Path:
    """Export the tiny registered test model; with `room_bias`, the room head ignores pixels.

    Through `export_artifact`, the service's export (graph, parity check, model.json).

    An export of the same model (same arguments, taxonomy, configs and code version) made
    earlier in this process is copied into `folder` instead, when `folder` is new or empty;
    a folder holding something gets a real export, which replaces it."""
    from tests.made_once import inputs_digest, made_once

    def export(into: Path) -> None:
        torch.manual_seed(seed)
        model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
        if room_bias is not None:
            with torch.no_grad():
                model.room_head.weight.zero_()
                model.room_head.bias.copy_(
                    torch.tensor([room_bias.get(name, 0.0) for name in taxonomy.room_names])
                )
        request = ExportRequest(
            variant="shanyraq_test",
            preprocessing=model_preprocessing(model, size=size),
            model_version=f"test-{seed}",
            temperatures=temperatures or Temperatures(),
        )
        images = [room_scene(seed + i, height=48, width=64) for i in range(2)]
        export_artifact(model, into, request=request, taxonomy=taxonomy, parity_images=images)

    # An export takes about 0.3 s (tracing, the parity check, model.json), and many tests ask
    # for the same tiny model, each in a folder of its own.
    given = [taxonomy.fingerprint(), sorted((room_bias or {}).items()), seed, size]
    key = inputs_digest(*given, (temperatures or Temperatures()).model_dump())
    return made_once("test-model", key, folder, export)


def model_calls(engine: Any, monkeypatch: Any) -> list[int]:
    """The batch size of every model call `engine` makes from now on (its run_logits, wrapped)."""
    calls: list[int] = []
    run = engine.run_logits

    def counted(batch: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(len(batch))
        return run(batch)

    monkeypatch.setattr(engine, "run_logits", counted)
    return calls


def small_call_config() -> EngineConfig:
    """The shipped engine settings (configs/engine.yaml) with at most 4 photos a model call, so
    that a few photos already make several calls, and abstention on the room head alone."""
    shipped = load_engine_config()
    return shipped.model_copy(
        update={
            "abstain": AbstainConfig(min_room_probability=0.5, min_condition_probability=0.0),
            "max_photos_per_call": 4,
        }
    )


def copy_with(folder: Path, tmp_path: Path, **changes: Any) -> Path:
    """A copy of the model folder `folder` (under `tmp_path`) whose model.json has `changes`."""
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    meta = json.loads((target / "model.json").read_text())
    meta.update(changes)
    (target / "model.json").write_text(json.dumps(meta))
    return target


def nan_heads(engine: Engine, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The engine's raw outputs with every head's logits NaN (as an fp16 overflow leaves them);
    the embedding is kept."""
    heads = set(engine.artifact.onnx_outputs[:3])
    return {
        name: np.full_like(out, np.nan) if name in heads else out for name, out in outputs.items()
    }
