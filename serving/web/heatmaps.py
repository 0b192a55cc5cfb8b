"""Heat-map evidence for the family page: Grad-CAM overlays from model.pt, cached on disk.

A heat map is computed once per (model version, colour scale, drawing code, photo, head,
label) and kept under `<data_dir>/heatmaps/<model version>/<colour scale>-<digest of
vision/explain.py>/`; later views read the PNG, checked against the digest it was kept with,
and a change of scale (the page's legend names it) or of the drawing never serves an overlay
drawn the old way. The cache itself (where, how checked, how pruned) is
serving.web.heatmap_cache's.
Without model.pt (an ONNX-only artifact), or with one copied over the model.pt the service
loaded (vision.explain.model_pt_changed), there are no heat maps, and the page says so instead
of showing anything invented, or links that every request would refuse.

The overlays are renders of families' photos, so those no key can serve any more are removed
when the service starts (`prune_cache`): the model version, the colour scale and the drawing
code change only with a restart (a new model, a new release), and a start-up walk costs no
request anything.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from serving.db.models import Photo
from serving.errors import (
    ConflictError,
    HeatmapNotAHomeError,
    HeatmapOtherModelError,
    NotFoundError,
    UnavailableError,
)
from serving.originals import checked_original
from serving.pipeline_refusals import LoggedUnavailableError
from serving.state import Services
from serving.stored_decode import check_explainable, decode_stored
from serving.web.heatmap_cache import cache_path, read_cached, with_digest, write_cached
from shanyraq.taxonomy import get_taxonomy
from vision.explain import ModelPtChangedError, model_pt_changed
from vision.score import ABSTAIN_NOT_DWELLING, PhotoScore
from welfare.aggregate import not_a_dwelling

logger = logging.getLogger(__name__)

# Overlays are shown at card size; a larger PNG would only cost a phone its data plan.
OVERLAY_SHORT_SIDE_PX = 480


def available(services: Services) -> bool:
    """True when the loaded model's folder has model.pt (Grad-CAM needs the torch model) and
    heat maps would be drawn with it: not when a model.pt copied over the one the engine
    loaded would have every heat map refused (vision.explain.model_pt_changed)."""
    folder = _model_folder(services)
    return folder is not None and model_pt_changed(folder) is None


def _model_folder(services: Services) -> Path | None:
    """The loaded model's folder, where it has model.pt; else None."""
    folder = services.settings.model_dir
    if folder is None or services.pipeline.engine is None or not (folder / "model.pt").is_file():
        return None
    return folder


def _check_available(services: Services) -> None:
    """UnavailableError, saying why, where heat maps are not `available`."""
    if available(services):
        return
    folder = _model_folder(services)
    changed = model_pt_changed(folder) if folder is not None else None
    raise _unavailable() if changed is None else _changed_since_start(changed)


def explains(services: Services, photo: Photo) -> bool:
    """Whether a heat map of the loaded model explains `photo`'s scores: heat maps are
    available and the loaded model scored the photo (not a model before a switch, nor none)."""
    return (
        available(services)
        and bool(photo.score)
        and photo.model_version is not None
        and photo.model_version == services.pipeline.model_version
    )


def not_a_home(photo: Photo) -> bool:
    """Whether the model that scored `photo` said it is not a home: it abstained as
    not_dwelling, or its top room is not_dwelling (or tied with it) as the assessment reads
    it (welfare.aggregate.not_a_dwelling). Its signs were never meant to be read (such photos
    train the room head only, and the assessment leaves them out), so no sign heat map
    explains anything on it."""
    if not photo.score:  # none stored (or an empty one): nothing said it
        return False
    return score_not_a_home(PhotoScore.from_dict(photo.score))


def score_not_a_home(score: PhotoScore) -> bool:
    """`not_a_home` on a score already read (the family page reads each once)."""
    return ABSTAIN_NOT_DWELLING in score.abstain_reasons or not_a_dwelling(score, get_taxonomy())


def check_explains(services: Services, photo: Photo) -> None:
    """UnavailableError (503) where heat maps are unavailable (`available`); else
    HeatmapNotAHomeError for a photo its scores say is not a home (`not_a_home`), else
    HeatmapOtherModelError unless a heat map of the loaded model explains `photo`. Checked
    before the view is audited: a refused heat map was seen by nobody."""
    _check_available(services)
    if not_a_home(photo):  # as the page has it: the scores shown say so, whichever model's
        raise HeatmapNotAHomeError(
            f"no sign heat map for photo {photo.id}: the photo model said it is not a home, so "
            "its signs are not read; if it does show a home, ask the inspector for a clearer "
            "photo of the room"
        )
    if not explains(services, photo):
        raise _other_model(services, photo)


class HeatmapNoNumberError(ConflictError):
    """A sign heat map asked for a sign the photo's score gives no number for: the page shows
    a dash there and offers no map, since a map beside it would explain nothing shown."""

    code = "heatmap_no_number"


def check_sign_scored(photo: Photo, sign: str) -> None:
    """HeatmapNoNumberError where `photo`'s stored score has no number for `sign`: null, NaN
    or inf (a score stored before nulls were written), shown as a dash on the page
    (photo_cards.shown_probability), or none at all. A photo with no score is refused by
    `check_explains`."""
    if not photo.score:
        return
    stored = (photo.score.get("signs") or {}).get(sign)
    if isinstance(stored, int | float) and math.isfinite(stored):
        return
    raise HeatmapNoNumberError(
        f"no heat map for sign {sign!r} of photo {photo.id}: the model gave no number for it "
        "(the page shows a dash), so a heat map would explain no score shown"
    )


def _unavailable() -> UnavailableError:
    return UnavailableError(
        "heat maps need the model's model.pt next to model.onnx; ask the administrator "
        "to deploy the full model artifact"
    )


def _changed_since_start(exc: ModelPtChangedError) -> UnavailableError:
    """The refusal, logged here, once: the line names the file that changed (the server's
    folders, said in the log only), which the answer does not; an error, since only the
    administrator's restart ends it. The pages and the API do not log it again."""
    logger.error("heat map refused: %s", exc.message)
    return LoggedUnavailableError(
        "heat maps are unavailable: the model artifact on disk changed since the service "
        "started, so a heat map would explain another model than the one whose scores are "
        "shown; ask the administrator to restart the service"
    )


def _other_model(services: Services, photo: Photo) -> HeatmapOtherModelError:
    loaded = services.pipeline.model_version
    if not photo.score:
        why = "the photo has no score (it was stored while no model was loaded)"
    else:
        why = f"its scores come from the photo model {photo.model_version}, not the loaded {loaded}"
    return HeatmapOtherModelError(
        f"no heat map for photo {photo.id}: {why}, so the evidence would explain other scores "
        "than the ones shown; re-score the photos under the loaded model and promote the "
        "scores (`shanyraq rescore`, `shanyraq rescore promote`)"
    )


def _shrink(rgb: np.ndarray, short_side_px: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = short_side_px / min(height, width)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def check_sign(sign: str) -> None:
    names = get_taxonomy().sign_names
    if sign not in names:
        raise NotFoundError(f"no sign {sign!r}; known: {', '.join(names)}")


def sign_overlay(services: Services, *, sha256: str, sign: str) -> bytes:
    """PNG of the photo with the evidence for `sign` laid over it (computed once, then cached).
    The original is checked on every call, cached overlay or not, as the photo's image route
    checks it (`PhotoStore.served_jpeg`): an overlay shows the photo's pixels, so it is the
    photo's evidence only while the original still is the uploaded photo."""
    check_sign(sign)
    _check_available(services)
    # Missing, unreadable, or not the uploaded bytes any more: no evidence shown on them.
    original = checked_original(services.store, sha256)
    path = cache_path(services, sha256=sha256, sign=sign)
    where = path.relative_to(services.settings.data_dir).as_posix()  # what its digest names
    cached = read_cached(path, where)
    if cached is not None:
        return cached
    from shanyraq.config import get_settings
    from vision.explain import heatmap, overlay_png

    # Decoded as the upload was (never below the model's input size), so the evidence is
    # computed on the very pixels the photo was scored on; only the overlay is shrunk. Under
    # the limit stored photos are shown at, not today's upload limit (`decode_stored`).
    decoded = decode_stored(
        sha256,
        original,
        max_pixels=get_settings().io.max_pixels,
        target_size=services.pipeline.decode_side,
    )
    check_explainable(decoded)  # a strip filed before the aspect limit: shown, not explained
    rgb = decoded.pixels
    folder = services.settings.model_dir
    assert folder is not None
    try:
        heat = heatmap(folder, rgb, head="signs", label=sign)
    except ModelPtChangedError as exc:  # copied over since start: it is not the scoring model
        raise _changed_since_start(exc) from None
    png = with_digest(overlay_png(_shrink(rgb, OVERLAY_SHORT_SIDE_PX), heat), where)
    write_cached(services, path, png)
    return png
