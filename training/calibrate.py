"""Calibration per head, fitted on validation logits by minimising the NLL.

One scalar per head divides that head's logits before its activation (temperature scaling).
For the heads the recipe names (`calibration.bias_heads`), an offset per output is fitted
jointly with the temperature: a single temperature cannot move CORAL's thresholds, and on the
demo model the condition head's ECE stayed at 0.056 with a temperature alone and fell to 0.021
with per-threshold offsets (test split; configs/train/demo.yaml). vision.heads applies both at
inference; they are stored in model.json.

An offset is fitted only where validation supports it: a room class (or softmax grade) with at
least `min_examples` labelled validation photos, a CORAL threshold with that many on each of the
two grades beside it. Others stay at 0: fitted, an offset learns validation's label mix, and a
class missing from validation would be pushed down for every photo served. A softmax head's
fitted offsets sum to zero, so together they cannot push the unfitted classes down either. A
head with no offset to fit (a tiny validation set) gets its temperature alone, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.optimize import minimize, minimize_scalar

from shanyraq.errors import ShanyraqError
from vision.artifact import Biases, Temperatures
from vision.heads import condition_probs, nonfinite_mask, nonfinite_rows, sigmoid, softmax

logger = logging.getLogger(__name__)

IGNORE = -1
_EPS = 1e-12
_LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))
# How near (in log temperature) a fitted temperature counts as at its bound: the bounded
# search stops within about 1e-5 of it, never on it.
_AT_BOUND_LOG = 1e-3


class CalibrationError(ShanyraqError):
    """Validation logits a calibration cannot be fitted on."""

    code = "calibration_nonfinite_logits"
    http_status = 500


@dataclass(frozen=True)
class HeadLogits:
    """Validation logits and targets (training encoding, -1 = not labelled)."""

    room: np.ndarray
    condition: np.ndarray
    signs: np.ndarray
    room_target: np.ndarray
    condition_target: np.ndarray
    signs_target: np.ndarray
    signs_known: np.ndarray


def _fit(nll: Callable[[float], float]) -> float:
    result = minimize_scalar(
        lambda log_t: nll(float(np.exp(log_t))), bounds=_LOG_T_BOUNDS, method="bounded"
    )
    return float(np.exp(result.x))


def _labelled(logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = target != IGNORE
    return logits[keep], target[keep]


Probs = Callable[[np.ndarray, float, "np.ndarray | None"], np.ndarray]


def _head_probs(head: str, formulation: str) -> Probs:
    """Logits, temperature and offsets -> class probabilities, as vision.heads computes them."""
    if head == "room":
        return softmax
    return lambda z, t, b: condition_probs(z, formulation, t, b)


def _class_nll(probs: Probs, z: np.ndarray, y: np.ndarray) -> Callable[..., float]:
    """Mean negative log-likelihood of the labels `y` at temperature t (and offsets b)."""
    rows = np.arange(y.size)
    return lambda t, b=None: float(-np.log(probs(z, t, b)[rows, y] + _EPS).mean())


def fit_room(logits: np.ndarray, target: np.ndarray) -> float:
    z, y = _labelled(logits, target)
    return _fit(_class_nll(_head_probs("room", ""), z, y)) if y.size else 1.0


def fit_condition(logits: np.ndarray, target: np.ndarray, *, formulation: str) -> float:
    z, y = _labelled(logits, target)
    return _fit(_class_nll(_head_probs("condition", formulation), z, y)) if y.size else 1.0


def fit_signs(logits: np.ndarray, target: np.ndarray, known: np.ndarray) -> float:
    z, y = logits[known], target[known]
    if not y.size:
        return 1.0

    def nll(t: float) -> float:
        p = sigmoid(z, t)
        return float(-(y * np.log(p + _EPS) + (1 - y) * np.log(1 - p + _EPS)).mean())

    return _fit(nll)


def finite_only(logits: HeadLogits) -> tuple[HeadLogits, dict[str, int]]:
    """`logits` with the photos whose scores in a head hold NaN or infinity unlabelled for
    that head, so its figures leave them out as they leave out an unlabelled photo (argmax
    would read one as the first class), and how many such photos each head has."""
    broken = {
        head: nonfinite_mask(getattr(logits, head)) for head in ("room", "condition", "signs")
    }
    kept = replace(  # their logits zeroed: left out, they need not make NaN warnings either
        logits,
        **{head: np.where(broken[head][:, None], 0.0, getattr(logits, head)) for head in broken},
        room_target=np.where(broken["room"], IGNORE, logits.room_target),
        condition_target=np.where(broken["condition"], IGNORE, logits.condition_target),
        signs_known=logits.signs_known & ~broken["signs"],
    )
    return kept, {head: int(found.sum()) for head, found in broken.items()}


def check_finite(logits: HeadLogits) -> None:
    """Refuse validation logits with NaN or infinity (CalibrationError): one such logit makes
    every NLL NaN, and the search would return an arbitrary temperature for every photo."""
    broken = nonfinite_rows(
        {"room": logits.room, "condition": logits.condition, "signs": logits.signs}
    )
    named = [f"{head}: {n} of {len(logits.room)}" for head, n in broken.items()]
    if named:
        raise CalibrationError(
            f"the model gives NaN or infinite logits on validation photos ({'; '.join(named)}), "
            "so no calibration can be fitted: training diverged or the weights are damaged; "
            "train again, e.g. with a lower learning rate (optim.lr)"
        )


def fit_temperatures(logits: HeadLogits, *, formulation: str) -> Temperatures:
    """A temperature per head; CalibrationError on non-finite logits (`check_finite`)."""
    check_finite(logits)
    temperatures = Temperatures(
        room=fit_room(logits.room, logits.room_target),
        condition=fit_condition(logits.condition, logits.condition_target, formulation=formulation),
        signs=fit_signs(logits.signs, logits.signs_target, logits.signs_known),
    )
    logger.info("calibration temperatures: %s", temperatures.model_dump())
    return temperatures


def temperatures_at_bound(temperatures: Temperatures) -> dict[str, float]:
    """The heads whose temperature is at a bound of the fit, with that bound (0.05 or 20)."""
    found: dict[str, float] = {}
    for head, t in temperatures.model_dump().items():
        for bound in _LOG_T_BOUNDS:
            if abs(np.log(t) - bound) < _AT_BOUND_LOG:
                found[head] = round(float(np.exp(bound)), 6)
    return found


def warn_at_bound(temperatures: Temperatures) -> dict[str, float]:
    """Warn about each temperature at its bound (`temperatures_at_bound`), which it returns."""
    found = temperatures_at_bound(temperatures)
    for head, bound in found.items():
        low = bound < 1
        logger.warning(
            "calibration: the %s temperature is at its bound %g: the fit wanted it %s, so the "
            "served %s probabilities stay %s-confident; check that head on the validation "
            "photos (labels, a head that learned nothing) before trusting them",
            head,
            bound,
            "lower" if low else "higher",
            head,
            "under" if low else "over",
        )
    return found


class Calibration(BaseModel):
    """What calibration fitted: a temperature per head and, where asked, offsets per output;
    `temperature_at_bound`, the heads whose temperature the fit left at a bound (a record of
    the fit, not part of what the model computes)."""

    model_config = ConfigDict(extra="forbid")

    temperatures: Temperatures = Temperatures()
    biases: Biases = Biases()
    temperature_at_bound: dict[str, float] = {}


def fit_temperature_and_bias(
    nll: Callable[[float, np.ndarray], float],
    n_outputs: int,
    *,
    l2: float,
    free: np.ndarray | None = None,
    centred: bool = False,
    head: str = "head",
) -> tuple[float, list[float]]:
    """Temperature t and offsets b minimising nll(t, b) + l2 * |b|^2 (L-BFGS-B, t bounded).

    Only the outputs marked in `free` (default: all) get an offset, the others 0; `centred`
    makes the free offsets sum to zero (a softmax, where a shared shift would move the others).
    A search that stops short of a minimum is warned about, naming `head`: its result is kept.
    """
    free = np.ones(n_outputs, dtype=bool) if free is None else np.asarray(free, dtype=bool)

    def offsets(theta: np.ndarray) -> np.ndarray:
        if free.all() and not centred:
            return theta
        b = np.zeros(n_outputs)
        b[free] = theta - theta.mean() if centred else theta
        return b

    def objective(params: np.ndarray) -> float:
        theta = params[1:]
        return nll(float(np.exp(params[0])), offsets(theta)) + l2 * float(theta @ theta)

    n_free = int(free.sum())
    bounds = [_LOG_T_BOUNDS] + [(None, None)] * n_free
    result = minimize(objective, np.zeros(n_free + 1), method="L-BFGS-B", bounds=bounds)
    if not result.success:
        logger.warning(
            "calibration: the %s fit of temperature and offsets did not converge (%s): its "
            "calibration may be off; check that head's validation logits (huge or saturated "
            "scores) and the ECE after calibration in the evaluation report",
            head,
            result.message,
        )
    return float(np.exp(result.x[0])), [float(v) for v in offsets(result.x[1:])]


def supported_outputs(counts: np.ndarray, *, coral: bool, min_examples: int) -> np.ndarray:
    """Which outputs validation supports, from its labelled photos per class (`counts`): a
    class with `min_examples`, or for CORAL a threshold (grade k against above it) with that
    many of grade k and of grade k + 1."""
    enough = counts >= min_examples
    return enough[:-1] & enough[1:] if coral else enough


def _fit_head(
    head: str,
    z: np.ndarray,
    y: np.ndarray,
    *,
    formulation: str,
    l2: float,
    min_examples: int,
    names: Sequence[str] | None,
) -> tuple[float, list[float]] | None:
    """(temperature, offsets) of one head, or None when validation supports no offset.

    Warns about classes too rare in validation to move (named by `names`, default index)."""
    coral = head == "condition" and formulation == "coral"
    n_classes = z.shape[1] + 1 if coral else z.shape[1]
    counts = np.bincount(y, minlength=n_classes)
    free = supported_outputs(counts, coral=coral, min_examples=min_examples)
    # A softmax offset only moves its class against the others: one supported class is none.
    if free.sum() < (1 if coral else 2):
        logger.warning(
            "calibration: %s gets a temperature only: %d labelled validation photos, too few "
            "for any offset (needs %d of %s)",
            head,
            y.size,
            min_examples,
            "two neighbouring grades" if coral else "two classes each",
        )
        return None
    names = names or [str(i) for i in range(n_classes)]
    short = [f"{names[i]} ({counts[i]})" for i in range(n_classes) if counts[i] < min_examples]
    if short:
        logger.warning(
            "calibration: %s offsets stay 0 next to classes with fewer than %d labelled "
            "validation photos: %s",
            head,
            min_examples,
            ", ".join(short),
        )
    nll = _class_nll(_head_probs(head, formulation), z, y)
    centred = not coral and not free.all()  # with every class free, the ridge centres them
    return fit_temperature_and_bias(nll, z.shape[1], l2=l2, free=free, centred=centred, head=head)


def fit_calibration(
    logits: HeadLogits,
    *,
    formulation: str,
    bias_heads: Sequence[str],
    l2: float,
    min_examples: int = 20,
    class_names: Mapping[str, Sequence[str]] | None = None,
) -> Calibration:
    """Temperatures for every head; temperature and offsets jointly for `bias_heads`, where
    validation has `min_examples` labelled photos of a class (`class_names` name them in
    warnings; default: their index). CalibrationError when a logit is NaN or infinite."""
    temperatures = fit_temperatures(logits, formulation=formulation)
    fitted: dict[str, tuple[float, list[float]]] = {}
    for head in bias_heads:
        z, y = _labelled(getattr(logits, head), getattr(logits, f"{head}_target"))
        if not y.size:
            continue
        found = _fit_head(
            head, z, y, formulation=formulation, l2=l2, min_examples=min_examples,
            names=(class_names or {}).get(head),
        )  # fmt: skip
        if found is not None:
            fitted[head] = found
    final = temperatures.model_copy(update={h: t for h, (t, _) in fitted.items()})
    calibration = Calibration(
        temperatures=final,
        biases=Biases(**{h: b for h, (_, b) in fitted.items()}),
        temperature_at_bound=warn_at_bound(final),
    )
    logger.info("calibration: %s", calibration.model_dump())
    return calibration
