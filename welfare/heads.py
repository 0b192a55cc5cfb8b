"""Fitted learners behind a fusion model: LightGBM (multiclass or cumulative), random forest.

Every head gives raw scores (class logits or log-probabilities (n, K), or binary log-odds
(n,)) on which calibration works, and per-feature contributions where it can compute them.
Random-forest heads are stored with joblib (pickle): load only artifacts you trained or trust.
"""

from __future__ import annotations

import json
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

        log p_k depends on the log-odds z_j of "above k-1" (+) and "above k" (-) through
        d log p_k / d z_j = q_j (1 - q_j) / p_k; each booster's exact TreeSHAP split of z_j
        is carried through that derivative.
        """
        per_booster = np.stack(
            [np.asarray(b.predict(x, pred_contrib=True)) for b in self.boosters], axis=1
        )  # (n, K-1, F+1)
        q, p = self.exceedance(x), self.probabilities(x)
        slope = q * (1 - q)  # (n, K-1)
        n, k = p.shape
        jacobian = np.zeros((n, k, k - 1))
        for j in range(k - 1):
            jacobian[:, j + 1, j] = slope[:, j] / p[:, j + 1]
            jacobian[:, j, j] = -slope[:, j] / p[:, j]
        return np.einsum("nkj,njf->nkf", jacobian, per_booster)

    def save(self, path: Path) -> None:
        boosters = [b.model_to_string() for b in self.boosters]
        path.write_text(json.dumps({"boosters": boosters}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CumulativeLightGBMHead:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls([_load_booster(text) for text in data["boosters"]])


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
        # Classes never seen in training get probability 0 in their own column.
        probs = np.zeros((len(x), self.n_classes))
        probs[:, self.forest.classes_.astype(int)] = self.forest.predict_proba(x)
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
        import joblib

        data = joblib.load(path)
        return cls(data["forest"], data["n_classes"])
