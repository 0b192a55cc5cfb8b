"""Fitted learners behind a fusion model: LightGBM (multiclass or cumulative), random forest.

Every head gives raw scores (class logits or log-probabilities (n, K), or binary log-odds
(n,)) on which calibration works, and per-feature contributions where it can compute them.
Random-forest heads are stored with joblib (pickle): load only artifacts you trained or trust.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from welfare.criteria import FusionRecipe, LightGBMRecipe

_EPS = 1e-6


class Head(Protocol):
    """One fitted learner: raw scores (logits or log-odds) and, if it has them, contributions."""

    def raw(self, x: np.ndarray) -> np.ndarray: ...
    def contributions(self, x: np.ndarray) -> np.ndarray | None: ...
    def save(self, path: Path) -> None: ...


def _train_booster(
    x: np.ndarray, y: np.ndarray, *, n_classes: int, recipe: LightGBMRecipe, seed: int
) -> Any:
    import lightgbm as lgb

    params: dict[str, Any] = {
        "learning_rate": recipe.learning_rate,
        "num_leaves": recipe.num_leaves,
        "min_child_samples": recipe.min_child_samples,
        "lambda_l2": recipe.lambda_l2,
        "feature_fraction": recipe.feature_fraction,
        "bagging_fraction": recipe.bagging_fraction,
        "bagging_freq": 1 if recipe.bagging_fraction < 1 else 0,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }
    if n_classes > 2:
        params.update(objective="multiclass", num_class=n_classes)
    else:
        params.update(objective="binary")
    data = lgb.Dataset(x, label=y, free_raw_data=True)
    return lgb.train(params, data, num_boost_round=recipe.n_estimators)


def _min_bagged_families(recipe: FusionRecipe) -> int:
    """The fewest families LightGBM trains on (measured): each round it draws
    int(bagging_fraction * n) of them and refuses an empty draw, so with 0.8 one fails."""
    n = 1
    while int(recipe.lightgbm.bagging_fraction * n) < 1:
        n += 1
    return n


def _load_booster(text: str) -> Any:
    import lightgbm as lgb

    return lgb.Booster(model_str=text)


def _load_cumulative_boosters(texts: Any) -> list[Any]:
    """The binary boosters of a cumulative head file, refused (ValueError saying what) when
    there are none, when one is not a binary model text, or when they read different numbers
    of features (one file is one fit, so they cannot)."""
    if not isinstance(texts, list) or not texts:
        raise ValueError("the file holds no boosters (a list of LightGBM model texts)")
    if not all(isinstance(text, str) for text in texts):
        raise ValueError("the file's boosters are not all LightGBM model texts")
    boosters = [_load_booster(text) for text in texts]
    if any(b.num_model_per_iteration() != 1 for b in boosters):
        raise ValueError("a booster is not a binary model (each answers one yes/no question)")
    counts = sorted({int(b.num_feature()) for b in boosters})
    if len(counts) > 1:
        raise ValueError(f"its boosters read different numbers of features ({counts})")
    return boosters


class LightGBMHead:
    """A LightGBM booster; multiclass raw scores (n, K) or binary log-odds (n,)."""

    suffix = ".txt"

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    @staticmethod
    def min_families(recipe: FusionRecipe) -> int:
        return _min_bagged_families(recipe)

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, *, n_classes: int, recipe: FusionRecipe, seed: int
    ) -> LightGBMHead:
        return cls(_train_booster(x, y, n_classes=n_classes, recipe=recipe.lightgbm, seed=seed))

    def raw(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(x, raw_score=True))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(n, F+1) for binary, (n, K, F+1) for multiclass; last column is the bias."""
        out = np.asarray(self.booster.predict(x, pred_contrib=True))
        n_features = x.shape[1] + 1
        if out.shape[1] == n_features:
            return out
        return out.reshape(len(x), -1, n_features)

    def save(self, path: Path) -> None:
        path.write_text(self.booster.model_to_string(), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LightGBMHead:
        return cls(_load_booster(path.read_text(encoding="utf-8")))


class CumulativeLightGBMHead:
    """Ordinal levels: K-1 binary boosters for P(level > k); class probabilities are their steps.

    Each booster answers one "is the family above this level?" question, so neighbouring
    levels share evidence instead of competing as unrelated classes. Raw scores are the log
    class probabilities (n, K), so a temperature still calibrates them.
    """

    suffix = ".json"

    def __init__(self, boosters: list[Any]) -> None:
        self.boosters = boosters

    @staticmethod
    def min_families(recipe: FusionRecipe) -> int:
        return _min_bagged_families(recipe)

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, *, n_classes: int, recipe: FusionRecipe, seed: int
    ) -> CumulativeLightGBMHead:
        booster_recipe = recipe.lightgbm
        return cls(
            [
                _train_booster(
                    x, (y > k).astype(int), n_classes=2, recipe=booster_recipe, seed=seed
                )
                for k in range(n_classes - 1)
            ]
        )

    def exceedance(self, x: np.ndarray) -> np.ndarray:
        """(n, K-1): P(level > k), made non-increasing in k (the boosters are fitted apart)."""
        q = np.stack([b.predict(x) for b in self.boosters], axis=1)
        return np.minimum.accumulate(q, axis=1)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        q = self.exceedance(x)
        ones, zeros = np.ones((len(x), 1)), np.zeros((len(x), 1))
        probs = np.clip(np.hstack([ones, q]) - np.hstack([q, zeros]), _EPS, None)
        return probs / probs.sum(axis=1, keepdims=True)

    def raw(self, x: np.ndarray) -> np.ndarray:
        return np.log(self.probabilities(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(n, K, F+1): first-order contributions to each log class probability.

        Each booster's exact TreeSHAP split of its log-odds z_j is carried through
        d log p_k / d z_j, the derivative of what `probabilities` computes: where a booster's
        P(level > j) exceeds an earlier one's, the smaller is taken (that booster then moves
        nothing) and the level between them is emptied to its floor, which no booster moves.
        """
        per_booster = np.stack(
            [np.asarray(b.predict(x, pred_contrib=True)) for b in self.boosters], axis=1
        )  # (n, K-1, F+1)
        return np.einsum("nkj,njf->nkf", self._log_probability_slopes(x), per_booster)

    def _log_probability_slopes(self, x: np.ndarray) -> np.ndarray:
        """(n, K, K-1): d log p_k / d z_j, z_j the log-odds booster j gives."""
        q_own = np.stack([b.predict(x) for b in self.boosters], axis=1)  # (n, K-1)
        n, steps = q_own.shape
        rows = np.arange(n)
        # d exceedance_j / d z_i: booster i's slope where exceedance_j is booster i's answer.
        d_exceed = np.zeros((n, steps + 2, steps))  # padded: P(level > -1) = 1, > K-1 = 0
        source: np.ndarray = np.zeros(n, dtype=int)
        for j in range(steps):
            source = np.where(q_own[:, j] <= q_own[rows, source], j, source)
            chosen = q_own[rows, source]
            d_exceed[rows, j + 1, source] = chosen * (1 - chosen)
        ones, zeros = np.ones((n, 1)), np.zeros((n, 1))
        q = self.exceedance(x)
        steps_p = np.hstack([ones, q]) - np.hstack([q, zeros])  # (n, K) before the floor
        kept = steps_p > _EPS
        d_steps = (d_exceed[:, :-1] - d_exceed[:, 1:]) * kept[:, :, None]
        floored = np.where(kept, steps_p, _EPS)
        d_total = d_steps.sum(axis=1) / floored.sum(axis=1, keepdims=True)  # renormalising
        return np.asarray(d_steps / floored[:, :, None] - d_total[:, None, :])

    def save(self, path: Path, *, notes: Mapping[str, str] | None = None) -> None:
        """Write the boosters as JSON, with `notes` beside them: keys loading ignores (so code
        that does not know them reads the file alike), for a reader of the folder."""
        boosters = [b.model_to_string() for b in self.boosters]
        path.write_text(json.dumps({**(notes or {}), "boosters": boosters}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CumulativeLightGBMHead:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "boosters" not in data:
            raise ValueError("not a cumulative head file (a JSON object with 'boosters')")
        return cls(_load_cumulative_boosters(data["boosters"]))


class ForestHead:
    """A scikit-learn random forest; raw scores are log-probabilities (or log-odds)."""

    suffix = ".joblib"

    def __init__(self, forest: Any, n_classes: int) -> None:
        self.forest = forest
        self.n_classes = n_classes

    @staticmethod
    def min_families(recipe: FusionRecipe) -> int:
        return 1  # scikit-learn fits a forest on one family (measured)

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, *, n_classes: int, recipe: FusionRecipe, seed: int
    ) -> ForestHead:
        from sklearn.ensemble import RandomForestClassifier

        forest = RandomForestClassifier(
            n_estimators=recipe.random_forest.n_estimators,
            min_samples_leaf=recipe.random_forest.min_samples_leaf,
            random_state=seed,
            n_jobs=2,
        )
        forest.fit(x, y)
        return cls(forest, n_classes)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        # One job sums the trees' votes in their own order; with threads the order (and so
        # the last bits) changed from call to call, and a tie between two levels could be
        # broken either way for the same family. The copy shares the fitted trees.
        predictor = copy.copy(self.forest)
        predictor.n_jobs = 1
        # Classes never seen in training get probability 0 in their own column.
        probs = np.zeros((len(x), self.n_classes))
        probs[:, self.forest.classes_.astype(int)] = predictor.predict_proba(x)
        return probs

    def raw(self, x: np.ndarray) -> np.ndarray:
        probs = np.clip(self.probabilities(x), _EPS, 1 - _EPS)
        if self.n_classes == 2:
            return np.log(probs[:, 1] / probs[:, 0])
        return np.log(probs)

    def contributions(self, x: np.ndarray) -> None:
        return None

    def save(self, path: Path) -> None:
        import joblib

        joblib.dump({"forest": self.forest, "n_classes": self.n_classes}, path)

    @classmethod
    def load(cls, path: Path) -> ForestHead:
        """The forest saved at `path`, refused (ValueError saying what) when it was pickled by
        another scikit-learn, which only warns and may then answer wrongly, or when the file
        is not a forest with its number of levels."""
        import joblib
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.exceptions import InconsistentVersionWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            data = joblib.load(path)
        for warning in caught:
            if isinstance(warning.message, InconsistentVersionWarning):
                raise ValueError(
                    f"saved by scikit-learn {warning.message.original_sklearn_version}, but "
                    f"this is scikit-learn {warning.message.current_sklearn_version}, which may "
                    "read its trees wrongly; install the scikit-learn that saved it to use it"
                )
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        if not (isinstance(data, dict) and isinstance(data.get("forest"), RandomForestClassifier)):
            raise ValueError("not a random forest head file (a forest and its number of levels)")
        forest, n_classes = data["forest"], data.get("n_classes")
        classes = np.asarray(getattr(forest, "classes_", []))
        if not (
            isinstance(n_classes, int) and classes.size and np.isin(classes, range(n_classes)).all()
        ):
            raise ValueError(
                f"the forest's classes {classes.tolist()} are not among its {n_classes} levels"
            )
        return cls(forest, n_classes)


def head_feature_count(head: Head) -> int:
    """How many features a fitted head reads (each booster of a cumulative head alike)."""
    if isinstance(head, LightGBMHead):
        return int(head.booster.num_feature())
    if isinstance(head, CumulativeLightGBMHead):
        return int(head.boosters[0].num_feature())  # one file, one fit: every booster alike
    if isinstance(head, ForestHead):
        return int(head.forest.n_features_in_)
    raise TypeError(f"no feature count for a {type(head).__name__} head")


def head_level_count(head: Head) -> int:
    """How many levels (classes) a fitted head gives: a cumulative head one more than its
    boosters (one per "above level k?"), a binary booster two."""
    if isinstance(head, LightGBMHead):
        return max(int(head.booster.num_model_per_iteration()), 2)
    if isinstance(head, CumulativeLightGBMHead):
        return len(head.boosters) + 1
    if isinstance(head, ForestHead):
        return int(head.n_classes)
    raise TypeError(f"no level count for a {type(head).__name__} head")
