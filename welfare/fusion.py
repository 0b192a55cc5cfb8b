"""Fusion models: a registry of (learner, feature set) recipes, training, calibration, versions.

Each registered model predicts the welfare level (1..K, multiclass) and P(ASP eligible)
(binary). Probabilities are calibrated on a held-out split by monotone maps on the raw
scores (a temperature for the level, Platt scaling for ASP); reasons (welfare.explain) are
measured on those calibrated probabilities.

A model is saved as a folder (fusion.json and one file per head), read, checked and saved by
welfare/model_folder.py. The version digests what decides the model's outputs: training data,
recipe, seed and the fitted heads themselves.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from shanyraq.errors import ModelMismatchError, ShanyraqError
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from welfare.criteria import FusionRecipe, WelfareConfig, get_welfare_config
from welfare.features import feature_basis
from welfare.fusion_version import (
    check_feature_basis,
    check_label_basis,
    label_basis,
    model_version,
)
from welfare.head_checks import check_heads, check_taxonomy
from welfare.heads import Head
from welfare.model_folder import (
    FusionMeta,
    Learner,
    asp_head_class,
    level_head_class,
    read_model,
    save_models,
)
from welfare.retrain_words import build_again

log = logging.getLogger(__name__)
# The visual feature whose definition (the rooms it is a share of) the model records.
COVERAGE_FEATURE = "vis_room_coverage"


class FamilyCountError(ShanyraqError):
    """A number of families asked for cannot be had: too few to split and fit a model on, or
    more than the split holds."""

    code = "family_count_invalid"


@dataclass(frozen=True)
class FusionSpec:
    """What a registered name means: which learner, and whether photo features are used."""

    name: str
    learner: Learner
    visual: bool


_REGISTRY: dict[str, Callable[[], FusionSpec]] = {}


def register(fn: Callable[[], FusionSpec]) -> Callable[[], FusionSpec]:
    _REGISTRY[fn.__name__] = fn
    return fn


@register
def rf_tabular() -> FusionSpec:
    return FusionSpec("rf_tabular", "random_forest", visual=False)


@register
def rf_fused() -> FusionSpec:
    return FusionSpec("rf_fused", "random_forest", visual=True)


@register
def lgbm_tabular() -> FusionSpec:
    return FusionSpec("lgbm_tabular", "lightgbm", visual=False)


@register
def lgbm_fused() -> FusionSpec:
    return FusionSpec("lgbm_fused", "lightgbm", visual=True)


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_spec(name: str) -> FusionSpec:
    if name not in _REGISTRY:
        raise KeyError(f"unknown fusion model {name!r}; choose one of {list_models()}")
    return _REGISTRY[name]()


@dataclass(frozen=True)
class Prediction:
    level_probs: np.ndarray  # (n, K), calibrated
    levels: np.ndarray  # (n,) decoded level values
    asp_probability: np.ndarray  # (n,), calibrated P(eligible)


class FusionModel:
    """A trained fusion model: level head, ASP head, their calibration and metadata."""

    def __init__(
        self, meta: FusionMeta, level_head: Head, asp_head: Head, *, folder: Path | None = None
    ) -> None:
        self.meta = meta
        self.level_head = level_head
        self.asp_head = asp_head
        # The folder it was loaded from (`load`) or saved to (`save_models`), where a refusal's
        # command builds it again; None for one neither read from nor saved to a folder.
        self.folder = folder

    @property
    def features(self) -> list[str]:
        return list(self.meta.features)

    @property
    def coverage_rooms(self) -> list[str] | None:
        """The rooms the model's room coverage is a share of, as it was trained (its recipe's
        expected_rooms); None when it does not read the feature, or its fusion.json has no
        recipe (saved before recipes were recorded) or no usable list of rooms in it."""
        if COVERAGE_FEATURE not in self.meta.features:
            return None
        rooms = (self.meta.recipe or {}).get("expected_rooms")
        named = isinstance(rooms, list) and all(isinstance(r, str) for r in rooms)
        return list(rooms) if named and rooms and len(set(rooms)) == len(rooms) else None

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's features of each family, in the order its heads were fitted on (by
        name, never by position)."""
        missing = [f for f in self.meta.features if f not in frame.columns]
        if missing:
            raise ModelMismatchError(
                f"model {self.meta.version} needs features {missing} the family data lacks: "
                "it was trained with other configs (configs/welfare.yaml, configs/taxonomy.yaml); "
                f"retrain it with {build_again(self.folder, self.meta)}"
            )
        return frame[self.meta.features].to_numpy(dtype=np.float64)

    def level_raw(self, x: np.ndarray) -> np.ndarray:
        return self.level_head.raw(x) / self.meta.temperature

    def asp_raw(self, x: np.ndarray) -> np.ndarray:
        a, b = self.meta.platt
        return a * self.asp_head.raw(x) + b

    def predict(self, frame: pd.DataFrame) -> Prediction:
        x = self.matrix(frame)
        probs = softmax(self.level_raw(x))
        asp = expit(self.asp_raw(x))  # no overflow warning for extreme log-odds
        levels = decode_levels(probs, self.meta.levels, how=self.meta.level_decoding)
        return Prediction(level_probs=probs, levels=levels, asp_probability=asp)

    def save(self, folder: Path) -> Path:
        """Write the model to `folder` whole (see `model_folder.save_models`)."""
        save_models({folder: self})
        return folder

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        levels: Sequence[int] | None = None,
        taxonomy: Taxonomy | None = None,
        config: WelfareConfig | None = None,
    ) -> FusionModel:
        """The model saved in `folder`; a folder that is not a whole fusion model (no or bad
        fusion.json, a head file missing or unreadable, a head fitted on another number of
        features than fusion.json lists), a model of other welfare levels than `levels`
        (default: `config`'s), one whose features were computed under another feature basis
        than `config` gives (welfare.fusion_version.check_feature_basis; `config` defaults to
        configs/welfare.yaml), one whose ASP labels were drawn under another poverty line than
        `config`'s (check_label_basis) or one reading photo features trained under another
        taxonomy than `taxonomy` (default: configs/taxonomy.yaml) is a ModelMismatchError."""
        meta, level_head, asp_head = read_model(folder)
        config = config or get_welfare_config()
        levels = config.level_values if levels is None else levels
        check_levels(meta, levels, source=str(folder), folder=Path(folder))
        check_taxonomy(meta, taxonomy or get_taxonomy(), source=str(folder))
        check_feature_basis(meta, config, source=str(folder))
        check_label_basis(meta, config, source=str(folder))
        check_heads(Path(folder), meta, {"level": level_head, "asp": asp_head})
        return cls(meta, level_head, asp_head, folder=Path(folder))


def check_levels(
    meta: FusionMeta, levels: Sequence[int], *, source: str, folder: Path | None
) -> None:
    """Refuse a model of other welfare levels: its outputs are read by their place in `levels`.
    The refusal names the command that builds it again in `folder`, the one it was read from
    (`retrain_words.build_again`; None: not read from a folder)."""
    if list(meta.levels) != list(levels):
        raise ModelMismatchError(
            f"{source}: the fusion model was trained on welfare levels {meta.levels}, but the "
            f"welfare configuration has {list(levels)}; retrain it with "
            f"{build_again(folder, meta)}"
        )


def softmax(raw: np.ndarray) -> np.ndarray:
    shifted = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def decode_levels(probs: np.ndarray, levels: list[int], *, how: str) -> np.ndarray:
    """argmax, or the median of the distribution (minimises expected absolute level error)."""
    values = np.asarray(levels)
    if how == "median":
        index = (np.cumsum(probs, axis=1) >= 0.5).argmax(axis=1)
    else:
        index = probs.argmax(axis=1)
    return values[index]


def calibration_size(n_train: int, fraction: float) -> int:
    """How many of n_train training families `train_fusion` keeps to calibrate (at least one)."""
    return max(1, round(n_train * fraction))


def min_training_families(names: Sequence[str], recipe: FusionRecipe) -> int:
    """The fewest training families (calibration part included) every model in `names` can be
    fitted on."""
    fit = 1
    for name in names:
        learner = create_spec(name).learner
        level = level_head_class(learner, recipe.lightgbm.level_objective)
        fit = max(fit, level.min_families(recipe), asp_head_class(learner).min_families(recipe))
    n = fit + 1
    while n - calibration_size(n, recipe.calibration_fraction) < fit:
        n += 1
    return n


def check_trainable(name: str, n_families: int, recipe: FusionRecipe) -> None:
    """Refuse to fit `name` on fewer families than it can be fitted and calibrated on."""
    need = min_training_families([name], recipe)
    if n_families < need:
        raise FamilyCountError(
            f"{name} cannot be trained on {n_families} famil{'y' if n_families == 1 else 'ies'}: "
            f"it needs at least {need} (some to fit, {recipe.calibration_fraction:.0%} to "
            "calibrate); give it more families"
        )


def data_hash(frame: pd.DataFrame, *labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(",".join(frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    for y in labels:
        digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()


def train_fusion(
    name: str,
    frame: pd.DataFrame,
    *,
    levels: np.ndarray,
    asp_eligible: np.ndarray,
    feature_names: list[str],
    level_values: list[int],
    recipe: FusionRecipe,
    seed: int,
    taxonomy: Taxonomy | None = None,
    config: WelfareConfig | None = None,
) -> FusionModel:
    """Fit both heads on a training part and calibrate them on a held-out part of `frame`; a
    model reading photo features records `taxonomy` (default: configs/taxonomy.yaml's, which
    welfare.dataset builds them with), and every model the feature basis and the poverty line
    (label_basis) of `config`, the welfare configuration `frame` was built and `asp_eligible`
    drawn with (default: configs/welfare.yaml)."""
    spec = create_spec(name)
    features = [f for f in feature_names if spec.visual or not f.startswith("vis_")]
    x = frame[features].to_numpy(dtype=np.float64)
    y_level = np.asarray(levels).astype(int) - level_values[0]
    y_asp = np.asarray(asp_eligible).astype(int)
    check_trainable(name, len(x), recipe)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_cal = calibration_size(len(x), recipe.calibration_fraction)
    cal, fit = order[:n_cal], order[n_cal:]
    objective = recipe.lightgbm.level_objective if spec.learner == "lightgbm" else "multiclass"
    log.info("training %s on %d families (%d for calibration)", name, len(fit), len(cal))
    level_head = level_head_class(spec.learner, objective).fit(
        x[fit], y_level[fit], n_classes=len(level_values), recipe=recipe, seed=seed
    )
    asp_head = asp_head_class(spec.learner).fit(
        x[fit], y_asp[fit], n_classes=2, recipe=recipe, seed=seed
    )
    _warn_if_constant(name, level_head, asp_head, x[fit])
    temperature = fit_temperature(level_head.raw(x[cal]), y_level[cal])
    platt = fit_platt(asp_head.raw(x[cal]), y_asp[cal])
    train_hash = data_hash(frame[features], y_level, y_asp)
    config = config or get_welfare_config()
    meta = FusionMeta(
        name=name,
        learner=spec.learner,
        visual=spec.visual,
        version="",  # set below, from everything else
        features=features,
        levels=list(level_values),
        training_data_hash=train_hash,
        n_train=len(fit),
        n_calibration=len(cal),
        temperature=temperature,
        platt=platt,
        level_decoding=recipe.level_decoding,
        background={f: _median(frame[f]) for f in features},
        level_objective=objective,
        recipe=recipe.model_dump(mode="json"),
        seed=seed,
        taxonomy_sha256=(taxonomy or get_taxonomy()).fingerprint() if spec.visual else None,
        feature_basis=feature_basis(config),
        label_basis=label_basis(config),
    )
    meta.version = model_version(meta, level_head, asp_head)
    return FusionModel(meta, level_head, asp_head)


def constant_heads(level_head: Head, asp_head: Head, x: np.ndarray) -> list[str]:
    """The heads ("level", "ASP") that give every row of `x` the same answer: a head fitted
    on those rows learned nothing (LightGBM makes no split when there are too few families
    for min_child_samples)."""

    def same_answer(head: Head, rows: np.ndarray) -> bool:
        return bool(np.ptp(np.atleast_2d(head.raw(rows).T), axis=1).max() == 0)

    # A few hundred families tell a head that learned something at once; all only otherwise.
    return [
        label
        for label, head in (("level", level_head), ("ASP", asp_head))
        if same_answer(head, x[:256]) and same_answer(head, x)
    ]


def _warn_if_constant(name: str, level_head: Head, asp_head: Head, x: np.ndarray) -> None:
    """Say so when a head learned nothing from the families it was fitted on."""
    constant = constant_heads(level_head, asp_head, x)
    if constant:
        log.warning(
            "%s learned nothing from %d families: its %s every family the same answer, so "
            "the model is meaningless; train it on more families",
            name,
            len(x),
            " and ".join(constant) + (" heads give" if len(constant) > 1 else " head gives"),
        )


def _median(column: pd.Series) -> float:
    known = column.dropna()
    return float(known.median()) if len(known) else float("nan")


def fit_temperature(raw: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(raw / T)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        probs = softmax(raw / np.exp(log_t))
        return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean())

    result = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))


def fit_platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a * raw + b), with a kept positive (monotone)."""
    from scipy.optimize import minimize

    def nll(params: np.ndarray) -> float:
        z = np.exp(params[0]) * raw + params[1]
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    result = minimize(nll, x0=np.zeros(2), method="L-BFGS-B")
    return float(np.exp(result.x[0])), float(result.x[1])
