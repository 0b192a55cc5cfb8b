"""Whether an engine-trained model's photo scores were made as the photos are scored now.

welfare.real_training records the settings its photo scores and reuse flags were made with
(`score_settings`, the score cache's key but the reuse check); `check_scoring` compares them with
those scoring the photos now: it refuses what changes what a score means and states what only
rounds it otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shanyraq.errors import ModelMismatchError
from welfare.fusion import FusionModel
from welfare.retrain_words import train_engine_again

# What in `score_settings` an engine-trained model is refused for, and what is only stated
# (`check_scoring`). Refused: what changes what a score means: another vision model, graph (its
# bytes) or model.json calibration and labels, other pixels (render size, generator, JPEG decode
# side), other verdicts on the same pixels (quality gate, abstain thresholds, reuse hash crops
# and check): the model learned the visual features those make and would read others with the
# wrong habits. Stated: what computes the same scores with other rounding: the ONNX Runtime
# version (kernels, graph optimisations), the execution provider, fp16 (the same weights in half
# precision: the fp16 copy's graph bytes then differ from model.onnx's), and the OpenCV, Pillow
# and libjpeg versions (the same image decoded and resized with other rounding): scores move in
# their last digits (a photo on an abstain threshold may cross it). A setting added to the key
# later is refused: a model recording none of it was trained under settings unknown.
ROUNDING = {
    "onnxruntime": "ONNX Runtime", "provider": "execution provider", "fp16": "fp16",
    "opencv": "OpenCV", "decoders": "JPEG decoding libraries",
}  # fmt: skip
MEANING = {
    "model": "vision model", "graph_sha256": "graph file (its bytes)",
    "artifact": "model.json's preprocessing, calibration or labels", "size": "render size",
    "synth": "generator settings (configs/synth.yaml)", "decode_side": "JPEG decode side",
    "quality": "quality gate", "abstain": "abstain thresholds", "crops": "reuse hash crops",
    "reuse": "reuse check (configs/engine.yaml hashing)",
}  # fmt: skip
_UNRECORDED, _WHOLE = "not recorded", "none (decoded whole)"  # shown as a setting's value


def check_scoring(
    model: FusionModel, *, folder: Path, now: dict[str, Any], vision_dir: Path | None = None
) -> list[str] | None:
    """Refuse an engine-trained model whose photo scores were made with settings that change
    what a score means (see MEANING) other than `now` (`score_settings` of the scoring now, by
    the vision model in `vision_dir`), naming the command that trains it again in `folder` under
    the settings now (the render size of `now`), with every option it records
    (`train_engine_again`); the differences that only round otherwise, as sentences for the
    report (empty: none).
    None (unchecked) for a model saved before its settings were recorded."""
    recorded = model.meta.metrics.get("data", {}).get("score_settings")
    if not recorded:
        return None
    changed = _changed(recorded, now)
    # Stated where recorded: a model recording none (saved before it joined the key) is refused.
    rounding = [k for k in ROUNDING if k in changed and changed[k][0] != _UNRECORDED]
    stated = [_change(ROUNDING[k], *changed.pop(k)) for k in rounding]
    then_copy, now_copy = (_fp16_copy(s.get("scoring", {})) for s in (recorded, now))
    if "graph_sha256" in changed and then_copy != now_copy:
        del changed["graph_sha256"]  # the same weights: their digest is the version, checked
        stated.append(
            f"graph {'model_fp16.onnx' if then_copy else 'model.onnx'} when trained, "
            f"{'model_fp16.onnx' if now_copy else 'model.onnx'} now"
        )
    if changed:
        differences = "; ".join(
            _change(MEANING.get(k) or ROUNDING.get(k, k), *v) for k, v in changed.items()
        )
        size = now.get("size") if isinstance(now.get("size"), int) else None
        command = train_engine_again(folder, model.meta, size=size, vision_dir=vision_dir)
        raise ModelMismatchError(
            f"{folder}: trained on photo scores made with other settings than the photos are "
            f"scored with now ({differences}), which change what a score means; train it again "
            f"under the settings now with {command}, or put back those it was trained with"
        )
    return stated


def _fp16_copy(identity: dict[str, Any]) -> bool:
    """Whether the session ran model_fp16.onnx where the artifact has one (vision.session)."""
    return identity.get("provider") == "cuda" and bool(identity.get("fp16"))


def _changed(then: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Each setting that differs, as (when trained, now); the scoring identity's by their names.
    One a record lacks is `_UNRECORDED` (saved before the setting joined the record), but
    decode_side, which `score_settings` leaves out where the render is decoded whole."""
    then, now = ({"decode_side": _WHOLE} | s | s.get("scoring", {}) for s in (then, now))
    pairs = {k: (then.get(k, _UNRECORDED), now.get(k, _UNRECORDED)) for k in then | now}
    return {k: v for k, v in sorted(pairs.items()) if v[0] != v[1] and k != "scoring"}


def _change(name: str, then: Any, now: Any) -> str:
    """`name` and how it differs: the fields of a block that differ, or both values."""
    if isinstance(then, dict) and isinstance(now, dict):
        pairs = {k: (then.get(k, _UNRECORDED), now.get(k, _UNRECORDED)) for k in then | now}
        fields = sorted(k for k, (old, new) in pairs.items() if old != new)
        return f"{name} ({', '.join(_change(k, *pairs[k]) for k in fields)})"
    return f"{name} {_shown(then)} when trained, {_shown(now)} now"


def _shown(value: Any) -> str:
    text = "none" if value is None else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:12] + "…"
