"""Fitted learners (welfare/heads.py): missing levels, NaN, determinism, the cumulative head's
contributions where its boosters disagree, and loading damaged or foreign head files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from welfare.heads import _EPS, CumulativeLightGBMHead, ForestHead, LightGBMHead

HEADS = [LightGBMHead, CumulativeLightGBMHead, ForestHead]


def _ordinal(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 6, size=(n, 3))
    y = np.clip(np.floor(x[:, 0] + rng.normal(0, 0.3, n)), 0, 5).astype(int)
    return x, y


def _probs(head, x: np.ndarray) -> np.ndarray:
    raw = head.raw(x)
    e = np.exp(raw - raw.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("kind", HEADS)
def test_a_level_missing_from_training_keeps_its_own_column(kind, welfare_config):
    x, y = _ordinal(900, seed=2)
    seen = (y != 2) & (y != 5)  # a middle level and the top level never seen
    head = kind.fit(x[seen], y[seen], n_classes=6, recipe=welfare_config.fusion, seed=0)
    probs = _probs(head, x[:300])
    assert probs.shape == (300, 6)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert probs[:, [2, 5]].max() < 0.05  # nothing moved into the unseen levels' columns
    # The seen levels stay where they are: a family of level 3 is read as level 3, not 2.
    clear = np.abs(x[:300, 0] - np.floor(x[:300, 0]) - 0.5) < 0.3
    truth = np.clip(np.floor(x[:300, 0]), 0, 5).astype(int)
    seen_rows = clear & (truth != 2) & (truth != 5)
    assert (probs[seen_rows].argmax(axis=1) == truth[seen_rows]).mean() > 0.9


@pytest.mark.parametrize("kind", HEADS)
def test_a_missing_feature_value_is_scored(kind, welfare_config):
    x, y = _ordinal(600, seed=3)
    x[::9, 1] = np.nan  # features may be missing in training and when scoring
    head = kind.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=0)
    rows = np.array([[4.5, np.nan, 1.0], [0.5, np.nan, np.nan]])
    probs = _probs(head, rows)
    assert np.isfinite(probs).all()
    assert list(probs.argmax(axis=1)) == [4, 0]  # the level still follows the first feature


@pytest.mark.parametrize("kind", HEADS)
def test_a_head_refuses_rows_of_another_width(kind, welfare_config):
    x, y = _ordinal(300, seed=4)
    head = kind.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=0)
    with pytest.raises(Exception, match=r"(?i)feature"):
        head.raw(x[:5, :2])


@pytest.mark.parametrize("kind", HEADS)
def test_the_same_seed_fits_the_same_head(kind, welfare_config):
    from welfare.fusion_version import head_content

    x, y = _ordinal(400, seed=5)
    a = kind.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=7)
    b = kind.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=7)
    c = kind.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=8)
    assert head_content(a) == head_content(b)
    assert np.array_equal(a.raw(x), b.raw(x))
    assert head_content(a) != head_content(c)


def test_a_forest_gives_the_same_probabilities_on_every_call(welfare_config):
    """Its trees' votes are summed in their own order, not in the order threads finish: the
    last bits otherwise differed from call to call, and a tie between two levels could be
    broken either way for the same family."""
    x, y = _ordinal(3000, seed=6)
    head = ForestHead.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=0)
    summed = np.zeros((len(x), 6))
    for tree in head.forest.estimators_:  # in order, as scikit-learn does with one job
        summed += tree.predict_proba(x.astype(np.float32))
    summed /= len(head.forest.estimators_)
    for _ in range(5):
        assert np.array_equal(head.probabilities(x), summed)
    asp = ForestHead.fit(x, (y > 2).astype(int), n_classes=2, recipe=welfare_config.fusion, seed=0)
    first = asp.raw(x)
    assert all(np.array_equal(asp.raw(x), first) for _ in range(5))


class _LogOddsColumn:
    """A stand-in binary booster whose log-odds is feature `j`, all of it contributed by j."""

    def __init__(self, j: int, n_features: int) -> None:
        self.j, self.n_features = j, n_features

    def predict(self, x: np.ndarray, pred_contrib: bool = False) -> np.ndarray:
        if not pred_contrib:
            return np.asarray(expit(x[:, self.j]))
        out = np.zeros((len(x), self.n_features + 1))
        out[:, self.j] = x[:, self.j]
        return out


def test_cumulative_contributions_follow_the_probabilities_where_boosters_disagree():
    """Where a booster says "above k" is likelier than "above k-1" (fitted apart, they can),
    the head takes the smaller; the contributions must follow what the head computes, not
    divide by the emptied level's floor probability (they reached 1e4 there)."""
    head = CumulativeLightGBMHead([_LogOddsColumn(j, 3) for j in range(3)])
    x = np.array(
        [
            [0.5, -0.3, -1.2],  # ordered: nothing adjusted
            [1.0, 2.0, -1.0],  # "above 1" likelier than "above 0": level 1 emptied
            [2.0, -2.0, 0.5],  # "above 2" likelier than "above 1": level 2 emptied
            [-1.0, 0.4, 1.5],  # both: levels 1 and 2 emptied
        ]
    )
    contrib = head.contributions(x)
    assert contrib.shape == (4, 4, 4)
    step = 1e-6
    for j in range(3):
        up, down = x.copy(), x.copy()
        up[:, j] += step
        down[:, j] -= step
        slope = (head.raw(up) - head.raw(down)) / (2 * step)  # d log p_k / d z_j
        assert np.allclose(contrib[:, :, j], slope * x[:, [j]], atol=1e-6), j
    assert np.abs(contrib).max() < 10


def test_cumulative_contributions_of_a_fitted_head_stay_bounded():
    from welfare.criteria import get_welfare_config

    # The full recipe: its many rounds on little evidence make boosters disagree.
    recipe = get_welfare_config().fusion
    x = np.random.default_rng(0).uniform(0, 6, size=(600, 3))
    y = np.floor(x[:, 0]).astype(int)
    seen = (y != 2) & (y != 5)
    head = CumulativeLightGBMHead.fit(x[seen], y[seen], n_classes=6, recipe=recipe, seed=0)
    q = np.stack([b.predict(x) for b in head.boosters], axis=1)
    adjusted = (np.diff(q, axis=1) > 0).any(axis=1)
    assert adjusted.any()  # the case this test is about occurs
    contrib = head.contributions(x)
    assert np.isfinite(contrib).all()
    assert np.abs(contrib[adjusted]).max() <= 2 * np.abs(contrib[~adjusted]).max()


def _save_cumulative(path: Path, boosters: list[str]) -> Path:
    path.write_text(json.dumps({"boosters": boosters}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cumulative_texts() -> dict[str, list[str]]:
    from welfare.criteria import get_welfare_config

    recipe = get_welfare_config().fusion
    recipe = recipe.model_copy(
        update={"lightgbm": recipe.lightgbm.model_copy(update={"n_estimators": 5})}
    )
    x, y = _ordinal(300, seed=8)
    three = CumulativeLightGBMHead.fit(x, y, n_classes=6, recipe=recipe, seed=0)
    two = CumulativeLightGBMHead.fit(x[:, :2], y, n_classes=6, recipe=recipe, seed=0)
    multi = LightGBMHead.fit(x, y, n_classes=6, recipe=recipe, seed=0)
    return {
        "three": [b.model_to_string() for b in three.boosters],
        "two": [b.model_to_string() for b in two.boosters],
        "multiclass": [multi.booster.model_to_string()],
    }


@pytest.mark.parametrize(
    ("boosters", "said"),
    [
        (lambda t: [], "no boosters"),
        (lambda t: t["three"][:2] + t["two"][2:], "features"),
        (lambda t: t["three"][:4] + t["multiclass"], "binary"),
        (lambda t: [*t["three"][:3], 7], "model text"),
    ],
)
def test_a_damaged_cumulative_head_file_is_refused_saying_what(
    boosters, said, cumulative_texts, tmp_path
):
    path = _save_cumulative(tmp_path / "level.json", boosters(cumulative_texts))
    with pytest.raises(ValueError, match=said):
        CumulativeLightGBMHead.load(path)


def test_a_whole_cumulative_head_file_loads(cumulative_texts, tmp_path):
    path = _save_cumulative(tmp_path / "level.json", cumulative_texts["three"])
    head = CumulativeLightGBMHead.load(path)
    assert _probs(head, np.array([[1.0, 2.0, 3.0]])).shape == (1, 6)


def test_a_head_file_without_boosters_is_a_model_mismatch(cumulative_texts, tmp_path):
    """Before, it loaded and FusionModel.load failed with a bare IndexError."""
    from shanyraq.errors import ModelMismatchError
    from welfare.model_folder import _load_head

    path = _save_cumulative(tmp_path / "level.json", [])
    with pytest.raises(ModelMismatchError, match="no boosters"):
        _load_head(CumulativeLightGBMHead, path)


def test_a_forest_saved_by_another_scikit_learn_is_refused(welfare_config, tmp_path, monkeypatch):
    """scikit-learn only warns (InconsistentVersionWarning) and may then give wrong answers."""
    import sklearn
    import sklearn.base

    x, y = _ordinal(200, seed=9)
    head = ForestHead.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=0)
    head.save(tmp_path / "same.joblib")
    monkeypatch.setattr(sklearn.base, "__version__", "1.0.2")  # what the pickle records
    head.save(tmp_path / "old.joblib")
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"scikit-learn 1\.0\.2.*" + sklearn.__version__):
        ForestHead.load(tmp_path / "old.joblib")
    loaded = ForestHead.load(tmp_path / "same.joblib")
    assert np.array_equal(loaded.probabilities(x), head.probabilities(x))


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (lambda f: {"forest": f, "n_classes": 3}, "levels"),  # classes 0..5 in 3 columns
        (lambda f: {"forest": "a forest", "n_classes": 6}, "random forest"),
        (lambda f: [f, 6], "random forest"),
    ],
)
def test_a_damaged_forest_file_is_refused_saying_what(content, said, welfare_config, tmp_path):
    import joblib

    x, y = _ordinal(200, seed=10)
    head = ForestHead.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=0)
    joblib.dump(content(head.forest), tmp_path / "level.joblib")
    with pytest.raises(ValueError, match=said):
        ForestHead.load(tmp_path / "level.joblib")


def test_probabilities_of_the_cumulative_head_stay_in_range(welfare_config):
    x, y = _ordinal(500, seed=11)
    head = CumulativeLightGBMHead.fit(x, y, n_classes=6, recipe=welfare_config.fusion, seed=0)
    probs = head.probabilities(np.vstack([x, [[1e9, -1e9, np.nan]]]))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs >= _EPS / 2).all() and (probs <= 1).all()
