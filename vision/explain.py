"""Heat-map evidence: which parts of a photo drove one head's score (Grad-CAM on model.pt).

Grad-CAM needs the network's last spatial feature map; instead of knowing each backbone's
internals, every submodule's 4-D output is watched during one forward pass and the last one
still wider than 1x1 is taken. Its channels are weighted by the gradient of the chosen
class's logit, summed, clipped at zero, mapped back onto the photo's own geometry (undoing
the preprocessing's resize policy) and scaled to 0..1 by its peak. A map with no place that
stands out (flat, or nothing above zero) is drawn as no evidence: scaled by its peak, a flat
map would paint the whole photo as strong evidence where the model localised nothing.

The hooks sit on the model itself, which is shared (cached per artifact, and the service asks
for several maps at once from its thread pool): one Grad-CAM pass runs at a time, so no call
sees another's activations. Torch already spreads one pass over every core.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from shanyraq.errors import ModelMismatchError, ShanyraqError
from shanyraq.taxonomy import HeadName, get_taxonomy
from vision.artifact import TORCH_FILE, Labels, Preprocessing, read_artifact
from vision.preprocess import letterbox_box, to_input

logger = logging.getLogger(__name__)

_HEAD_INDEX = {"room": 0, "condition": 1, "signs": 2}
# The overlay's colour scale: cividis runs from dark blue to yellow with its lightness rising
# all the way, so more evidence reads as brighter even to a reader who cannot tell red from
# green (JET's red and green ends look alike to many). Pages name it in their legend, and
# cached overlays are kept apart per scale (serving.web.heatmaps.cache_path).
OVERLAY_SCALE = "cividis"
_COLOUR_MAPS = {"cividis": cv2.COLORMAP_CIVIDIS}
# A map whose spread (peak minus floor) over the photo is under this share of its peak points
# to no particular place: divided by its peak, every part of the photo would be drawn within
# the top tenth of the scale, "strong evidence everywhere" where the model localised nothing.
# Such a map is drawn as none (the photo untinted, as the pages' legend explains).
FLAT_CONTRAST = 0.1
_GRAD_CAM_LOCK = threading.Lock()  # hooks and eval() act on a shared model: one pass at a time


@dataclass
class _Loaded:
    """The model.pt heat maps of one artifact folder run on, and what it was on disk."""

    seen: tuple[int, int, int]  # the file's `_identity` last seen: one unchanged is not read
    digest: str  # sha256 of the file that was loaded
    parts: tuple[Any, Preprocessing, Labels, str]


# One per artifact folder, for the life of the process. The engine scores with the model it
# loaded at start, and heat maps are cached under its version (serving.web.heatmaps): a
# model.pt copied over this one in place is another model, so it is not loaded until the
# service restarts (and the engine with it); the same bytes written again change nothing.
# No eviction: a service explains only its settings' model_dir (another model is a restart,
# which `rescore promote` requires), and `score --explain` one model, so it holds one model.
_LOADED: dict[Path, _Loaded] = {}
# What each folder's model.pt was when an engine loaded the artifact (`expect_model_pt`): its
# sha256, or None when there was none. Heat maps load only that file: one replaced before the
# first heat map (none loaded yet to keep) is refused, as it would explain another model than
# the one whose scores are shown. A folder no engine loaded (tests, tools) is not checked.
_EXPECTED: dict[Path, str | None] = {}
_UNCHECKED = "unchecked"  # no engine loaded the folder: any model.pt is its own reference
# What each folder's model.pt was last seen to be (`_identity`), and whether that file is the
# one expected (`_is_expected`): pages ask before every view (`model_pt_changed`), and heat
# maps before each one is drawn, so a file is hashed again only when its stat changed.
_CHECKED: dict[Path, tuple[tuple[int, int, int], bool]] = {}


class ModelPtChangedError(ModelMismatchError):
    """The model.pt on disk is not the one there when the engine loaded the artifact."""


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _identity(path: Path) -> tuple[int, int, int]:
    """What tells a file copied over `path` (or renamed onto it) from the one there before."""
    stat = os.stat(path)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def expect_model_pt(folder: Path) -> str | None:
    """Record the model.pt in `folder` as the one its heat maps must explain (Engine.load
    calls this with the artifact it scores with); its sha256, None when there is none. One
    that cannot be read is logged and leaves heat maps of `folder` unchecked."""
    path = folder / TORCH_FILE
    _CHECKED.pop(folder, None)
    try:
        seen = _identity(path)  # before the hash: a file replaced in between is hashed again
        digest: str | None = _digest(path)
    except FileNotFoundError:
        digest = None
    except OSError as exc:
        _EXPECTED.pop(folder, None)
        logger.warning(
            "%s cannot be read (%s): heat maps cannot be checked against the model loaded",
            path, exc.strerror or exc,
        )  # fmt: skip
        return None
    _EXPECTED[folder] = digest
    if digest is not None:
        _CHECKED[folder] = (seen, True)
    return digest


def model_pt_changed(folder: Path) -> ModelPtChangedError | None:
    """The ModelPtChangedError heat maps of `folder` would be refused with (`heatmap_model`),
    else None: for pages, which must not offer heat maps that every request would refuse.
    Asked on every view, so model.pt is hashed only when its stat changed since it was last
    looked at. None also where heat maps fail otherwise (no model.pt: ModelMismatchError)."""
    path = folder / TORCH_FILE
    expected = _EXPECTED.get(folder, _UNCHECKED)
    loaded = _LOADED.get(folder)
    if expected == _UNCHECKED or (loaded is not None and loaded.digest == expected):
        return None  # any file explains itself, or the model loaded is kept whatever is on disk
    try:
        matches = _is_expected(folder, expected)
    except OSError:  # gone or unreadable: heatmap_model says so, as it always did
        return None
    return None if matches else _changed(path)


def _is_expected(folder: Path, expected: str | None) -> bool:
    """Whether `folder`'s model.pt is the `expected` one (None: there was none), hashed only
    when its `_identity` changed since it was last looked at (_CHECKED): a replaced file is a
    new inode, size or mtime, so it is hashed again, while one unchanged is hashed once."""
    path = folder / TORCH_FILE
    seen = _identity(path)  # before the hash: a file replaced in between is hashed again
    checked = _CHECKED.get(folder)
    if checked is None or checked[0] != seen:
        checked = (seen, expected is not None and _digest(path) == expected)
        _CHECKED[folder] = checked
    return checked[1]


def _changed(path: Path) -> ModelPtChangedError:
    return ModelPtChangedError(
        f"{path} is not the model.pt that was there when the model was loaded (the artifact "
        "on disk changed since start): its heat maps would explain another model than the one "
        "scoring; restart the service (or the command) to score with and explain the new one"
    )


def _load(folder: Path) -> tuple[Any, Preprocessing, Labels, str]:
    from vision.model import load_model

    artifact = read_artifact(folder)
    try:
        model, preprocessing = load_model(folder)
    except (ShanyraqError, OSError):  # named already, or a file the caller must fix
        raise
    except Exception as exc:  # torch's unpickler raises anything for a damaged file
        raise ModelMismatchError(
            f"{folder / TORCH_FILE} cannot be read as a model ({type(exc).__name__}); export "
            "the model again (shanyraq export RUN) to make heat maps"
        ) from None
    return model, preprocessing, artifact.labels, artifact.condition_formulation


def heatmap_model(folder: Path) -> tuple[Any, Preprocessing, Labels, str]:
    """The torch model of the artifact in `folder` that heat maps run on (loaded once per
    process: a model.pt replaced later is logged and left unloaded, see _LOADED);
    ModelMismatchError when model.pt is missing or unreadable, so a caller can check before
    any work (`shanyraq score --explain`), ModelPtChangedError when it is not the one the
    engine found at load (`expect_model_pt`)."""
    path = folder / TORCH_FILE
    expected = _EXPECTED.get(folder, _UNCHECKED)
    try:
        seen = _identity(path)
        with _GRAD_CAM_LOCK:  # one load per artifact, not one per concurrent first caller
            loaded = _LOADED.get(folder)
            if loaded is not None and expected in (_UNCHECKED, loaded.digest):  # kept
                if loaded.seen != seen:
                    loaded.seen = seen
                    if _digest(path) != loaded.digest:
                        logger.warning(
                            "%s was replaced since heat maps were first drawn with it: they "
                            "keep using the model loaded then, as the scores do; restart the "
                            "service to score with and explain the new one", path,
                        )  # fmt: skip
                return loaded.parts
            # Refused as often as asked (a direct URL, `score --explain`): hashed once per file.
            if expected != _UNCHECKED and not _is_expected(folder, expected):
                raise _changed(path)
            digest = expected if expected not in (_UNCHECKED, None) else _digest(path)
            parts = _load(folder)
            if expected != _UNCHECKED and not _is_expected(folder, expected):  # replaced while
                raise _changed(path)  # loading: a new stat is hashed again, the same one is not
            _LOADED[folder] = _Loaded(seen, digest, parts)
            return parts
    except FileNotFoundError:
        raise ModelMismatchError(
            f"{path} not found: heat maps need the torch model next to model.onnx; export the "
            "model again (shanyraq export RUN), or copy the whole artifact folder"
        ) from None


def _head_logits(outputs: Any, head: str) -> Any:
    if hasattr(outputs, head):  # vision.model.ModelOutput
        return getattr(outputs, head)
    if isinstance(outputs, dict):
        return outputs.get(head, outputs.get(f"{head}_logits"))
    return outputs[_HEAD_INDEX[head]]


def _target(logits: Any, head: str, index: int, formulation: str) -> Any:
    """The scalar whose gradient is the evidence for `label`."""
    row = logits[0]
    if head == "condition" and formulation == "coral":
        # CORAL logit k scores "grade > k+1": evidence for grade g is above g-1, not above g.
        signs = [1.0 if k < index else -1.0 for k in range(row.shape[0])]
        return (row * row.new_tensor(signs)).sum()
    return row[index]


def _feature_map_forward(model: Any, pixels: Any) -> tuple[Any, Any]:
    """Run `model`, returning (outputs, the last spatial feature map, kept in the graph)."""
    captured: list[Any] = []

    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        if hasattr(output, "dim") and output.dim() == 4 and min(output.shape[-2:]) > 1:
            captured.append(output)
            # Later in-place ops (e.g. ReLU(inplace=True)) must not overwrite what we keep.
            return output.clone()
        return None

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        outputs = model(pixels)
    finally:
        for handle in handles:
            handle.remove()
    if not captured:
        raise ValueError("the model has no spatial feature map to explain (no 4-D activations)")
    return outputs, captured[-1]


def _grad_cam(model: Any, batch: np.ndarray, *, head: str, index: int, formulation: str) -> Any:
    import torch

    model.eval()
    pixels = torch.from_numpy(batch).requires_grad_(True)
    with torch.enable_grad():
        outputs, features = _feature_map_forward(model, pixels)
        score = _target(_head_logits(outputs, head), head, index, formulation)
        (grads,) = torch.autograd.grad(score, features)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * features).sum(dim=1))[0]
    return cam.detach().numpy().astype(np.float32)


def _seen(square: np.ndarray, spec: Preprocessing, height: int, width: int) -> np.ndarray:
    """The part of a map over the model input that shows the photo (not letterbox padding)."""
    if spec.resize != "letterbox":  # squash: all of it; crop: the square is the photo's centre
        return square
    top, left, new_h, new_w = letterbox_box(height, width, spec.size)
    return np.ascontiguousarray(square[top : top + new_h, left : left + new_w])


def _to_photo(seen: np.ndarray, spec: Preprocessing, height: int, width: int) -> np.ndarray:
    """Undo the resize policy: the seen part of the model input (`_seen`) becomes a map over
    the photo."""
    if spec.resize != "shorter_side_crop":
        return cv2.resize(seen, (width, height), interpolation=cv2.INTER_LINEAR)
    side = min(height, width)  # the centre square; the rest was unseen
    out = np.zeros((height, width), dtype=np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    out[top : top + side, left : left + side] = cv2.resize(seen, (side, side))
    return out


def points_nowhere(seen: np.ndarray) -> bool:
    """Whether a Grad-CAM map over the part of the photo the model saw has no place that
    stands out (FLAT_CONTRAST), or no evidence at all. Measured before the unseen margins of a
    cropped photo are added: their zeros are no contrast the model gave."""
    peak, floor = float(seen.max()), float(seen.min())
    return peak <= 0.0 or peak - floor < FLAT_CONTRAST * peak


def _label_index(labels: Labels, head: str, label: str | int) -> int:
    names: list[Any] = list(getattr(labels, head))
    # Compared as text, so grade 3 may be given as "3", while 3.5, True or "three" (which
    # int() would make grade 3, grade 1 or an unrelated error) name no class.
    texts = [str(name) for name in names]
    if str(label) not in texts:
        raise ValueError(f"{label!r} is not a {head} label; known: {names}")
    return texts.index(str(label))


def heatmap(
    source: Path | Any,
    rgb: np.ndarray,
    *,
    head: HeadName,
    label: str | int,
    preprocessing: Preprocessing | None = None,
    condition_formulation: str = "coral",
) -> np.ndarray:
    """(H, W) float32 map in 0..1 over `rgb`: where the evidence for `head`/`label` lies;
    all zeros where the model points to no particular place (`points_nowhere`).

    `source` is an artifact folder (model.pt + model.json) or a torch model; a model needs
    its `preprocessing` and takes its labels from the taxonomy.
    """
    if head not in _HEAD_INDEX:
        raise ValueError(f"head must be one of {sorted(_HEAD_INDEX)}, got {head!r}")
    if isinstance(source, Path):
        model, spec, labels, formulation = heatmap_model(source)
    else:
        if preprocessing is None:
            raise ValueError("give `preprocessing` with a model (or pass an artifact folder)")
        taxonomy = get_taxonomy()
        model, spec, formulation = source, preprocessing, condition_formulation
        labels = Labels(
            room=taxonomy.room_names, condition=taxonomy.condition_values, signs=taxonomy.sign_names
        )
    index = _label_index(labels, head, label)
    batch = to_input(rgb, spec)[None]
    with _GRAD_CAM_LOCK:
        cam = _grad_cam(model, batch, head=head, index=index, formulation=formulation)
    if not np.isfinite(cam).all():
        # Drawn anyway it would read as "no evidence anywhere" (NaN fails the peak test) or
        # carry NaN pixels into the overlay: evidence the model never gave.
        raise ModelMismatchError(
            f"the model gave no finite evidence for {head} {label!r} (NaN or infinite "
            "activations): its model.pt is damaged or overflows; export the model again "
            "(shanyraq export RUN)"
        )
    height, width = rgb.shape[:2]
    square = cv2.resize(cam, (spec.size, spec.size), interpolation=cv2.INTER_LINEAR)
    seen = np.clip(_seen(square, spec, height, width), 0.0, None)
    if points_nowhere(seen):
        logger.info(
            "the model points to no particular place for %s %r: no evidence drawn", head, label
        )
        return np.zeros((height, width), dtype=np.float32)
    heat = np.clip(_to_photo(seen, spec, height, width), 0.0, None)
    peak = float(heat.max())  # > 0 but where a photo smaller than the input lost the peak
    return (heat / peak).astype(np.float32) if peak > 0 else np.zeros_like(heat)


def overlay_png(rgb: np.ndarray, heat: np.ndarray, *, alpha: float = 0.45) -> bytes:
    """The photo with the heat map blended over it (OVERLAY_SCALE colours), encoded as PNG."""
    if heat.shape != rgb.shape[:2]:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    grey = (np.clip(heat, 0, 1) * 255).astype(np.uint8)
    colours = cv2.applyColorMap(grey, _COLOUR_MAPS[OVERLAY_SCALE])
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    # Weight by the heat itself so cold regions keep the photo's own colours.
    weight = (alpha * np.clip(heat, 0, 1))[..., None]
    blended = (bgr * (1 - weight) + colours * weight).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", blended)
    if not ok:
        raise ValueError("could not encode the heat-map overlay as PNG")
    return encoded.tobytes()
