"""Is active selection worth it? Learning curves on scored synthetic photos, against random picks.

The pool (annotation.pool) is synthetic photos scored by a model artifact: each photo has the
model's embedding and its true labels. A cheap learner (logistic regression per head on the
embeddings, refitted after every batch of labels) stands in for the next training run. Both
strategies label photos from the same pool and are scored on the same held-out photos of other
homes; the score is the mean of room accuracy and condition accuracy (condition over photos of
a home). From the mean curves over seeds, `ratios` says how many labels selection needs to
reach random's accuracy at N labels, as a fraction of N (the goal: <= 0.6).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotation.pool import NO_GRADE, PhotoPool
from annotation.select import SelectionParams, select_batch, warm_start
from annotation.uncertainty import HeadProbabilities
from shanyraq.taxonomy import HeadName, Taxonomy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Strategy:
    """What is measured: the selection's parameters and the labels given per round."""

    params: SelectionParams = field(default_factory=lambda: SelectionParams(budget=0))
    batch: int = 20  # labels per round; the learner is refitted after each round
    diverse_start: bool = True  # seed set: central photos of k-means clusters, not random ones


class _Probe:
    """Logistic regression on one head's labels; classes not labelled yet get a small share."""

    def __init__(self, x: np.ndarray, y: np.ndarray, k: int, c: float) -> None:
        from sklearn.linear_model import LogisticRegression

        self.k = k
        self.present = np.unique(y)
        self.model = (
            LogisticRegression(C=c, max_iter=500).fit(x, y) if len(self.present) > 1 else None
        )

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.full((len(x), self.k), 1e-3)
        if self.model is None:
            p[:, self.present] = 1.0
        else:
            p[:, self.model.classes_] = self.model.predict_proba(x)
        return p / p.sum(axis=1, keepdims=True)


class HeadLearners:
    """One probe per head (and per sign) on standardised embeddings."""

    def __init__(self, taxonomy: Taxonomy, *, c: float = 0.01) -> None:
        self.taxonomy = taxonomy
        self.c = c

    def fit(self, pool: PhotoPool, idx: np.ndarray) -> HeadLearners:
        x = pool.features[idx]
        self.room = _Probe(x, pool.room[idx], self.taxonomy.head_size("room"), self.c)
        graded = pool.condition[idx] != NO_GRADE
        grades = pool.condition[idx][graded] if graded.any() else np.zeros(1, dtype=int)
        x_graded = x[graded] if graded.any() else x[:1]
        self.condition = _Probe(x_graded, grades, self.taxonomy.head_size("condition"), self.c)
        self.signs = [
            _Probe(x, pool.signs[idx, s], 2, self.c)
            for s in range(self.taxonomy.head_size("signs"))
        ]
        return self

    def probabilities(self, features: np.ndarray) -> HeadProbabilities:
        return HeadProbabilities(
            room=self.room.predict_proba(features),
            condition=self.condition.predict_proba(features),
            signs=np.stack([p.predict_proba(features)[:, 1] for p in self.signs], axis=1),
            not_dwelling=self.taxonomy.room_names.index(self.taxonomy.not_dwelling),
        )

    def accuracy(self, pool: PhotoPool) -> dict[HeadName, float]:
        probs = self.probabilities(pool.features)
        graded = pool.condition != NO_GRADE
        signs = (probs.signs >= 0.5) == pool.signs
        return {
            "room": float((probs.room.argmax(1) == pool.room).mean()),
            "condition": float(
                (probs.condition[graded].argmax(1) == pool.condition[graded]).mean()
            ),
            "signs": float(signs.mean()),
        }


def score(acc: dict[HeadName, float]) -> float:
    """The curve's y axis: mean of room and condition accuracy."""
    return (acc["room"] + acc["condition"]) / 2


def standardise(train: PhotoPool, test: PhotoPool) -> tuple[PhotoPool, PhotoPool]:
    """Centre and scale embeddings by the unlabelled pool's statistics (no labels used)."""
    from dataclasses import replace

    mean, std = train.features.mean(axis=0), train.features.std(axis=0) + 1e-6
    return (
        replace(train, features=(train.features - mean) / std),
        replace(test, features=(test.features - mean) / std),
    )


def _hashes(pool: PhotoPool, idx: np.ndarray) -> np.ndarray:
    return np.stack([pool.phash[idx], pool.dhash[idx]], axis=1)


def _active_round(
    learners: HeadLearners, train: PhotoPool, labelled: list[int], need: int, strategy: Strategy
) -> list[int]:
    rest = np.setdiff1d(np.arange(len(train)), labelled)
    done = np.asarray(labelled)
    chosen = select_batch(
        learners.probabilities(train.features[rest]),
        train.features[rest],
        strategy.params.with_budget(need),
        labelled_embeddings=train.features[done],
        hashes=_hashes(train, rest),
        labelled_hashes=_hashes(train, done),
    )
    return [int(rest[i]) for i in chosen]


@dataclass
class Curve:
    labels: list[int]
    active: list[float] = field(default_factory=list)
    random: list[float] = field(default_factory=list)


def _start(
    train: PhotoPool, rng: np.random.Generator, seed_labels: int, strategy: Strategy
) -> tuple[list[int], list[int]]:
    random_start = [int(i) for i in rng.choice(len(train), size=seed_labels, replace=False)]
    if not strategy.diverse_start:
        return random_start, random_start
    picked = warm_start(
        train.features,
        seed_labels,
        seed=int(rng.integers(2**31)),
        hashes=_hashes(train, np.arange(len(train))),
        params=strategy.params,  # the measured selection's radii, not the default config's
    )
    return picked, random_start


def run_once(
    train: PhotoPool,
    test: PhotoPool,
    taxonomy: Taxonomy,
    *,
    seed: int,
    budgets: list[int],
    seed_labels: int,
    strategy: Strategy,
) -> Curve:
    """One seed: both strategies from their start sets up to each budget; test score at each."""
    rng = np.random.default_rng(seed)
    active_start, random_start = _start(train, rng, seed_labels, strategy)
    taken = set(random_start)
    random_order = random_start + [int(i) for i in rng.permutation(len(train)) if i not in taken]
    curve = Curve(labels=budgets)
    labelled = list(active_start)
    for budget in budgets:
        while len(labelled) < budget:
            need = min(strategy.batch, budget - len(labelled))
            learners = HeadLearners(taxonomy).fit(train, np.array(labelled))
            picked = _active_round(learners, train, labelled, need, strategy)
            if not picked:  # everything left is a near-duplicate of something labelled
                break
            labelled += picked
        fitted = HeadLearners(taxonomy).fit(train, np.array(labelled))
        curve.active.append(score(fitted.accuracy(test)))
        baseline = HeadLearners(taxonomy).fit(train, np.array(random_order[:budget]))
        curve.random.append(score(baseline.accuracy(test)))
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
    ratios: dict[int, float | None]  # N -> labels selection needs to match random at N, over N
    ceiling: float  # the learner's score with every pool photo labelled
    title: str = ""
    active_sd: list[float] = field(default_factory=list)
    random_sd: list[float] = field(default_factory=list)


def learning_curve(
    train: PhotoPool,
    test: PhotoPool,
    taxonomy: Taxonomy,
    *,
    strategy: Strategy,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    budgets: list[int] | None = None,
    seed_labels: int = 10,
    title: str = "",
) -> CurveResult:
    """Mean curves over `seeds` and the labels-needed ratio at every N."""
    from tqdm import tqdm

    budgets = budgets or [10, 20, 30, 40, 60, 80, 100, 130, 160, 200, 300]
    train, test = standardise(train, test)
    runs = [
        run_once(
            train,
            test,
            taxonomy,
            seed=s,
            budgets=budgets,
            seed_labels=seed_labels,
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
    everything = HeadLearners(taxonomy).fit(train, np.arange(len(train)))
    return CurveResult(
        labels=budgets,
        active=active,
        random=random,
        ratios=ratios,
        ceiling=score(everything.accuracy(test)),
        title=title,
        active_sd=np.std([r.active for r in runs], axis=0).tolist(),
        random_sd=np.std([r.random for r in runs], axis=0).tolist(),
    )


@dataclass(frozen=True)
class ExperimentSetup:
    """Which photos: pool and evaluation sets (different seeds, so different homes)."""

    model_dir: Path
    work_dir: Path
    n_pool: int = 3000
    n_test: int = 1000
    pool_seed: int = 9101
    test_seed: int = 9102
    duplicate_share: float = 0.2  # edited copies added to the pool (bursts of one view)
    size: int = 128


def run_experiment(
    setup: ExperimentSetup, taxonomy: Taxonomy, *, strategy: Strategy, seeds: tuple[int, ...]
) -> list[CurveResult]:
    """Two panels: the generator's photos alone, and with edited copies among them."""
    from annotation.pool import build_pool

    pool, test = (
        build_pool(
            n,
            seed=seed,
            model_dir=setup.model_dir,
            work_dir=setup.work_dir,
            taxonomy=taxonomy,
            size=setup.size,
            duplicate_share=share,
        )
        for n, seed, share in (
            (setup.n_pool, setup.pool_seed, setup.duplicate_share),
            (setup.n_test, setup.test_seed, 0.0),
        )
    )
    originals = pool.subset(np.flatnonzero(pool.duplicate_of < 0))
    with_copies = f"with {setup.duplicate_share:.0%} edited copies"
    return [
        learning_curve(
            originals, test, taxonomy, strategy=strategy, seeds=seeds,
            title=f"{len(originals)} synthetic photos",
        ),
        learning_curve(
            pool, test, taxonomy, strategy=strategy, seeds=seeds,
            title=f"{len(originals)} synthetic photos {with_copies}",
        ),
    ]  # fmt: skip


def plot_curves(results: list[CurveResult], out: Path) -> Path:
    """One panel per pool: score against labels, selection vs random, with the ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.0 * len(results), 4.4), dpi=110)
    for ax, result in zip(np.atleast_1d(axes), results, strict=True):
        x = np.asarray(result.labels)
        for name, mean, sd, marker in (
            ("uncertainty + diversity", result.active, result.active_sd, "o"),
            ("random", result.random, result.random_sd, "s"),
        ):
            ax.plot(x, mean, marker=marker, label=name)
            if sd:
                lo, hi = np.asarray(mean) - np.asarray(sd), np.asarray(mean) + np.asarray(sd)
                ax.fill_between(x, lo, hi, alpha=0.15)
        ax.axhline(result.ceiling, color="grey", ls="--", lw=1, label="every pool photo labelled")
        ax.set_xlabel("labelled photos")
        ax.set_ylabel("accuracy (mean of room and condition)")
        ax.set_title(result.title)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle("Active selection vs random (logistic regression per head; mean ± sd of seeds)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
