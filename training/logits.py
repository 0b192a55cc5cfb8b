"""A model's logits on manifest photos: its predictor, the photos decoded, the heads' logits.

A predictor is any function from an input batch to the three heads' logits, so the same code
runs the torch model during training and the exported ONNX graph afterwards. Photos go through
`vision.io` and `vision.preprocess`, as in serving (training.evaluate measures what comes out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from shanyraq.config import get_settings
from shanyraq.manifest import ManifestRow
from shanyraq.taxonomy import Taxonomy
from training.calibrate import HeadLogits
from training.data import decode_side, encode_targets, photo_file
from vision.artifact import Preprocessing
from vision.io import decode_file
from vision.model import ShanyraqNet
from vision.preprocess import to_batch

Logits = tuple[np.ndarray, np.ndarray, np.ndarray]
Predictor = Callable[[np.ndarray], Logits]


def torch_predictor(model: ShanyraqNet) -> Predictor:
    model = model.eval()
    device = next(model.parameters()).device

    def predict(batch: np.ndarray) -> Logits:
        with torch.no_grad():
            out = model(torch.from_numpy(batch).to(device))
        return out.room.cpu().numpy(), out.condition.cpu().numpy(), out.signs.cpu().numpy()

    return predict


def onnx_predictor(folder: Path) -> Predictor:
    from vision.artifact import INPUT_NAME
    from vision.export_parity import OUTPUT_NAMES, onnx_session

    session = onnx_session(folder / "model.onnx")

    def predict(batch: np.ndarray) -> Logits:
        room, condition, signs = session.run(OUTPUT_NAMES[:3], {INPUT_NAME: batch})
        return room, condition, signs

    return predict


def load_images(rows: Sequence[ManifestRow], root: Path, spec: Preprocessing) -> list[np.ndarray]:
    """Decode each photo once (reduced-scale where the format allows, as uploads decode)."""
    limit, side = get_settings().io.max_pixels, decode_side(spec)
    images = []
    for row in tqdm(rows, desc="decode", leave=False):
        path = row.resolve(root)
        with photo_file(path):
            images.append(decode_file(path, max_pixels=limit, target_size=side).pixels)
    return images


def collect_logits(
    predictor: Predictor,
    images: Sequence[np.ndarray],
    rows: Sequence[ManifestRow],
    *,
    spec: Preprocessing,
    taxonomy: Taxonomy,
    corrupt: Callable[[np.ndarray, int], np.ndarray] | None = None,
    batch_size: int = 64,
) -> HeadLogits:
    outs: list[Logits] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        if corrupt is not None:
            chunk = [corrupt(image, start + i) for i, image in enumerate(chunk)]
        outs.append(predictor(to_batch(list(chunk), spec)))
    targets = [encode_targets(r, taxonomy) for r in rows]
    return HeadLogits(
        room=np.concatenate([o[0] for o in outs]),
        condition=np.concatenate([o[1] for o in outs]),
        signs=np.concatenate([o[2] for o in outs]),
        room_target=np.array([int(t.room) for t in targets]),
        condition_target=np.array([int(t.condition) for t in targets]),
        signs_target=np.stack([t.signs.numpy() for t in targets]),
        signs_known=np.array([bool(t.signs_known) for t in targets]),
    )
