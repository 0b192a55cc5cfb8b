"""Is active selection worth it? A learning curve on synthetic photos, against random picks.

Each synthetic photo is a feature vector standing in for the model's embedding: a room
centroid, a condition direction, sign directions, a nuisance "style" offset (lighting, camera)
and noise; a third of the photos come in bursts of near-duplicates, as field photos do. Labels
are imbalanced like real visits (few not_dwelling or emergency photos). A cheap learner
(logistic regression per head) is refitted after each batch; both strategies start from the
same random seed set and are scored on the same held-out photos.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotation.select import SelectionParams, UncertaintyMethod, select_photos
from shanyraq.taxonomy import HeadName, Taxonomy
from vision.score import PhotoScore

logger = logging.getLogger(__name__)

ROOM_SHARE = np.array([0.28, 0.12, 0.25, 0.25, 0.07, 0.03])
GRADE_SHARE = np.array([0.05, 0.2, 0.4, 0.25, 0.1])


@dataclass(frozen=True)
class SynthPool:
    features: np.ndarray  # (N, D)
    room: np.ndarray  # (N,) class index
    condition: np.ndarray  # (N,) grade index 0..K-1
    signs: np.ndarray  # (N, S) 0/1


def make_pool(
    n: int, taxonomy: Taxonomy, *, rng: np.random.Generator, dim: int = 24, separation: float = 1.0
) -> SynthPool:
    """`n` synthetic photos; about a third are near-duplicates of an earlier one.

    `separation` scales the distance between grades against the noise: 1 makes condition
    hard (a linear learner on all the data reaches about 0.65), 2 makes it learnable (0.9).
    """
    n_rooms, n_grades, n_signs = (taxonomy.head_size(h) for h in ("room", "condition", "signs"))
    room_centres = rng.normal(0, 1.6, size=(n_rooms, dim))
    grade_axis = rng.normal(0, 1, size=dim) / np.sqrt(dim) * 2.2 * separation
    sign_axes = rng.normal(0, 1, size=(n_signs, dim)) / np.sqrt(dim) * 1.5
    style_offsets = rng.normal(0, 1.2, size=(12, dim))
    n_unique = int(n * 0.67)
    room = rng.choice(n_rooms, size=n_unique, p=ROOM_SHARE[:n_rooms] / ROOM_SHARE[:n_rooms].sum())
    grade = rng.choice(
        n_grades, size=n_unique, p=GRADE_SHARE[:n_grades] / GRADE_SHARE[:n_grades].sum()
    )
    # Poorer homes show need signs more often, richer ones welfare signs.
    need = np.array([s.points_to == "need" for s in taxonomy.signs.classes])
    p_sign = np.where(need[None, :], 0.45 - 0.1 * grade[:, None], 0.04 + 0.1 * grade[:, None])
    signs = (rng.random((n_unique, n_signs)) < np.clip(p_sign, 0.02, 0.9)).astype(int)
    style = rng.integers(0, len(style_offsets), size=n_unique)
    features = (
        room_centres[room]
        + (grade - (n_grades - 1) / 2)[:, None] * grade_axis
        + signs @ sign_axes
        + style_offsets[style]
        + rng.normal(0, 1.0, size=(n_unique, dim))
    )
    copies = rng.integers(0, n_unique, size=n - n_unique)
    jitter = rng.normal(0, 0.05, size=(len(copies), dim))
    order = rng.permutation(n)
    return SynthPool(
        features=np.concatenate([features, features[copies] + jitter])[order],
        room=np.concatenate([room, room[copies]])[order],
        condition=np.concatenate([grade, grade[copies]])[order],
        signs=np.concatenate([signs, signs[copies]])[order],
    )


class HeadLearners:
    """Logistic regression per head; classes never labelled yet get a small probability."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy

    def fit(self, pool: SynthPool, idx: np.ndarray) -> HeadLearners:
        self.room = _fit_multiclass(
            pool.features[idx], pool.room[idx], self.taxonomy.head_size("room")
        )
        self.condition = _fit_multiclass(
            pool.features[idx], pool.condition[idx], self.taxonomy.head_size("condition")
        )
        self.signs = [
            _fit_multiclass(pool.features[idx], pool.signs[idx, s], 2)
            for s in range(self.taxonomy.head_size("signs"))
        ]
        return self

    def scores(self, features: np.ndarray) -> list[PhotoScore]:
        room, cond = self.room(features), self.condition(features)
        signs = np.stack([f(features)[:, 1] for f in self.signs], axis=1)
        t = self.taxonomy
        return [
            PhotoScore(
                photo_sha256=str(i),
                model_version="simulated",
                room=dict(zip(t.room_names, room[i].tolist(), strict=True)),
                condition=dict(zip(t.condition_values, cond[i].tolist(), strict=True)),
                signs=dict(zip(t.sign_names, signs[i].tolist(), strict=True)),
                embedding=features[i],
            )
            for i in range(len(features))
        ]

    def accuracy(self, pool: SynthPool) -> dict[HeadName, float]:
        room = float((self.room(pool.features).argmax(1) == pool.room).mean())
        cond = float((self.condition(pool.features).argmax(1) == pool.condition).mean())
        signs = np.stack([f(pool.features)[:, 1] for f in self.signs], axis=1) >= 0.5
        return {"room": room, "condition": cond, "signs": float((signs == pool.signs).mean())}


def _fit_multiclass(x: np.ndarray, y: np.ndarray, k: int) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y)
    if len(present) == 1:
        only = int(present[0])

        def constant(z: np.ndarray) -> np.ndarray:
            p = np.full((len(z), k), 0.05 / max(k - 1, 1))
            p[:, only] = 0.95
            return p

        return constant
    model = LogisticRegression(C=1.0, max_iter=300).fit(x, y)

    def predict(z: np.ndarray) -> np.ndarray:
        p = np.full((len(z), k), 1e-3)
        p[:, model.classes_] = model.predict_proba(z)
        return p / p.sum(axis=1, keepdims=True)

    return predict


@dataclass
class Curve:
    labels: list[int]
    active: list[float] = field(default_factory=list)
    random: list[float] = field(default_factory=list)


def _mean_accuracy(acc: dict[HeadName, float]) -> float:
    return (acc["room"] + acc["condition"]) / 2


@dataclass(frozen=True)
class Strategy:
    """The selection being measured (defaults: configs/annotation.yaml's selection section)."""

    method: UncertaintyMethod = "margin"
    head_weights: dict[HeadName, float] = field(
        default_factory=lambda: {"room": 1.0, "condition": 1.0, "signs": 0.5}
    )
    pool_factor: int = 4
    near_duplicate_cosine_distance: float = 0.02
    batch: int = 20  # labels per round; the learner is refitted after each round


def _active_round(
    learners: HeadLearners, train: SynthPool, labelled: list[int], need: int, strategy: Strategy
) -> list[int]:
    rest = np.setdiff1d(np.arange(len(train.room)), labelled)
    params = SelectionParams(
        budget=need,
        pool_factor=strategy.pool_factor,
        near_duplicate_cosine_distance=strategy.near_duplicate_cosine_distance,
    )
    chosen = select_photos(
        learners.scores(train.features[rest]),
        params,
        method=strategy.method,
        head_weights=strategy.head_weights,
        labelled=learners.scores(train.features[labelled]),
    )
    return [int(rest[i]) for i in chosen]


def run_once(
    taxonomy: Taxonomy,
    *,
    seed: int,
    budgets: list[int],
    n_pool: int,
    n_test: int,
    seed_labels: int,
    separation: float = 1.0,
    strategy: Strategy | None = None,
) -> Curve:
    strategy = strategy or Strategy()
    rng = np.random.default_rng(seed)
    pool = make_pool(n_pool + n_test, taxonomy, rng=rng, separation=separation)
    parts = (pool.features, pool.room, pool.condition, pool.signs)
    train, test = SynthPool(*(a[:n_pool] for a in parts)), SynthPool(*(a[n_pool:] for a in parts))
    start = [int(i) for i in rng.choice(n_pool, size=seed_labels, replace=False)]
    random_order = [int(i) for i in rng.permutation(n_pool) if i not in set(start)]
    curve = Curve(labels=budgets)
    for name in ("active", "random"):
        labelled = list(start)
        for budget in budgets:
            while len(labelled) < budget:
                need = min(strategy.batch, budget - len(labelled))
                if name == "random":
                    labelled += random_order[len(labelled) - seed_labels :][:need]
                    continue
                learners = HeadLearners(taxonomy).fit(train, np.array(labelled))
                picked = _active_round(learners, train, labelled, need, strategy)
                if not picked:  # everything left is a near-duplicate of something labelled
                    break
                labelled += picked
            learners = HeadLearners(taxonomy).fit(train, np.array(labelled))
            getattr(curve, name).append(_mean_accuracy(learners.accuracy(test)))
    return curve


def labels_to_match(curve_labels: list[int], active: list[float], target: float) -> float | None:
    """Fewest labels (linear interpolation) at which the active curve reaches `target`."""
    for i, acc in enumerate(active):
        if acc >= target:
            if i == 0:
                return float(curve_labels[0])
            x0, x1, y0, y1 = curve_labels[i - 1], curve_labels[i], active[i - 1], acc
            return x0 + (target - y0) / (y1 - y0) * (x1 - x0) if y1 > y0 else float(x1)
    return None


@dataclass(frozen=True)
class CurveResult:
    labels: list[int]
    active: list[float]
    random: list[float]
    ratios: dict[int, float | None]  # N -> labels active needs to match random at N, over N
    separation: float = 1.0


def learning_curve(
    taxonomy: Taxonomy,
    *,
    seeds: tuple[int, ...] = (0, 1, 2),
    budgets: list[int] | None = None,
    n_pool: int = 2000,
    n_test: int = 1000,
    seed_labels: int = 20,
    separation: float = 1.0,
    strategy: Strategy | None = None,
) -> CurveResult:
    from tqdm import tqdm

    budgets = budgets or [20, 40, 60, 80, 100, 140, 180, 240, 300]
    runs = [
        run_once(
            taxonomy,
            seed=s,
            budgets=budgets,
            n_pool=n_pool,
            n_test=n_test,
            seed_labels=seed_labels,
            separation=separation,
            strategy=strategy,
        )
        for s in tqdm(seeds, desc="learning curves", unit="seed")
    ]
    active = np.mean([r.active for r in runs], axis=0).tolist()
    random = np.mean([r.random for r in runs], axis=0).tolist()
    ratios: dict[int, float | None] = {}
    for n, target in zip(budgets, random, strict=True):
        needed = labels_to_match(budgets, active, target)
        ratios[n] = None if needed is None else needed / n
    return CurveResult(budgets, active, random, ratios, separation)


def plot_curves(results: list[CurveResult], out: Path) -> Path:
    """One panel per difficulty: accuracy against labels, selection vs random."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.0 * len(results), 4.2), dpi=110)
    for ax, result in zip(np.atleast_1d(axes), results, strict=True):
        ax.plot(result.labels, result.active, marker="o", label="uncertainty + diversity")
        ax.plot(result.labels, result.random, marker="s", label="random")
        ax.set_xlabel("labelled photos")
        ax.set_ylabel("accuracy (mean of room and condition)")
        ax.set_title(f"synthetic photos, grade separation {result.separation:g}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle("Active selection vs random (logistic regression per head, mean of seeds)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
