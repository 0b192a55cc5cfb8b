"""Several annotators, one photo: merge their labels, measure how well they agree.

Agreement per head is Krippendorff's alpha (it allows any number of annotators per photo and
missing answers): nominal for room, ordinal for condition, and for signs the mean over signs of
a nominal alpha on each sign's yes/no. Merging is a majority vote, or a vote weighted by each
annotator's reliability: the log-odds of agreeing with the *other* annotators' weighted vote on
the same photos, shrunk towards a prior and re-estimated a few times (a one-coin Dawid-Skene,
leave-one-out). A tie is not guessed: the head stays unlabelled and the photo is listed for
review. A room tie between rooms of a home (kitchen against bathroom) leaves only the room
unlabelled: condition and signs are still merged from the annotators who saw a home, as they
are when the room is decided. not_dwelling wins only when it outweighs all who saw a home, in
whichever room: a plurality over each room alone does not settle that the photo is no home.
A tie on one sign leaves the whole signs head unlabelled: the manifest's signs cell is the
full set of signs seen, with no "unknown" for one sign, so any set written would say the tied
sign was seen, or was not; the pull report names the photo and the tied signs
(`Merged.tied_signs`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from annotation.label_config import PhotoLabels
from shanyraq.taxonomy import HeadName, Taxonomy

Metric = Literal["nominal", "ordinal", "interval"]
MergeMethod = Literal["majority", "reliability"]
Votes = Sequence[tuple[str, PhotoLabels]]  # (annotator, labels) for one photo


def _delta2(values: list[Hashable], totals: np.ndarray, metric: Metric) -> np.ndarray:
    k = len(values)
    if metric == "nominal":
        return 1.0 - np.eye(k)
    if metric == "interval":
        v = np.array(values, dtype=np.float64)
        return (v[:, None] - v[None, :]) ** 2
    cumulative = np.concatenate([[0.0], np.cumsum(totals)])
    d = np.zeros((k, k))
    for c in range(k):
        for j in range(k):
            lo, hi = min(c, j), max(c, j)
            d[c, j] = (cumulative[hi + 1] - cumulative[lo] - (totals[c] + totals[j]) / 2) ** 2
    return d


def krippendorff_alpha(
    units: Sequence[Sequence[Hashable]],
    *,
    metric: Metric = "nominal",
    order: Sequence[Hashable] | None = None,
) -> float:
    """Alpha over units (each the values its annotators gave; None = no answer).

    nan when undefined: fewer than two paired values, or only one value ever used.
    `order` fixes the value order for the ordinal and interval metrics (default: sorted).
    """
    pairable = [[v for v in unit if v is not None] for unit in units]
    pairable = [u for u in pairable if len(u) >= 2]
    values = list(order) if order is not None else sorted({v for u in pairable for v in u}, key=str)
    if metric != "nominal" and order is None:  # numbers in their own order: 2 before 10
        values = sorted({v for u in pairable for v in u})  # type: ignore[type-var]
    index = {v: i for i, v in enumerate(values)}
    coincidence = np.zeros((len(values), len(values)))
    for unit in pairable:
        counts = np.zeros(len(values))
        for v in unit:
            counts[index[v]] += 1
        pairs = np.outer(counts, counts) - np.diag(counts)
        coincidence += pairs / (len(unit) - 1)
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    if n < 2 or np.count_nonzero(totals) < 2:
        return math.nan
    d2 = _delta2(values, totals, metric)
    observed = (coincidence * d2).sum() / n
    expected = (np.outer(totals, totals) * d2).sum() / (n * (n - 1))
    return float(1.0 - observed / expected) if expected > 0 else math.nan


@dataclass(frozen=True)
class HeadAgreement:
    alpha: float
    photos: int  # photos with at least two answers on this head
    unanimous: int


def _saw_home(labels: PhotoLabels, taxonomy: Taxonomy) -> bool:
    return labels.room is not None and labels.room != taxonomy.not_dwelling


def _head_values(
    votes: Votes, head: HeadName, taxonomy: Taxonomy, sign: str | None = None
) -> list[Hashable]:
    """Each annotator's answer on a head; condition and signs only from those who saw a home
    (a not_dwelling answer carries an empty signs set, which is no answer, not "no signs")."""
    out: list[Hashable] = []
    for _, labels in votes:
        if head != "room" and not _saw_home(labels, taxonomy):
            out.append(None)
        elif head == "signs":
            out.append(None if labels.signs is None else sign in labels.signs)
        else:
            out.append(getattr(labels, head))
    return out


def agreement_by_head(photos: Sequence[Votes], taxonomy: Taxonomy) -> dict[HeadName, HeadAgreement]:
    """Alpha per head; condition and signs compare only annotators who saw a home, as
    `merge_votes` counts them, so a room disagreement is not counted again on them."""
    result: dict[HeadName, HeadAgreement] = {}
    for head in ("room", "condition"):
        units = [_head_values(v, head, taxonomy) for v in photos]
        metric: Metric = "ordinal" if head == "condition" else "nominal"
        order = taxonomy.condition_values if head == "condition" else taxonomy.room_names
        result[head] = _summary(units, krippendorff_alpha(units, metric=metric, order=order))
    per_sign = [
        krippendorff_alpha(
            [_head_values(v, "signs", taxonomy, s) for v in photos], order=[False, True]
        )
        for s in taxonomy.sign_names
    ]
    defined = [a for a in per_sign if not math.isnan(a)]
    sign_units = [[lab.signs if _saw_home(lab, taxonomy) else None for _, lab in v] for v in photos]
    result["signs"] = _summary(sign_units, float(np.mean(defined)) if defined else math.nan)
    return result


def _summary(units: Sequence[Sequence[Hashable]], alpha: float) -> HeadAgreement:
    answered = [[v for v in u if v is not None] for u in units]
    paired = [u for u in answered if len(u) >= 2]
    return HeadAgreement(
        alpha=alpha, photos=len(paired), unanimous=sum(1 for u in paired if len(set(u)) == 1)
    )


@dataclass(frozen=True)
class Merged:
    labels: PhotoLabels
    disagreed: tuple[HeadName, ...] = ()  # heads where annotators differed
    unresolved: tuple[HeadName, ...] = ()  # heads left unlabelled because of a tie
    tied_signs: tuple[str, ...] = ()  # the signs whose tie left the signs head unlabelled


def _vote(values: Sequence[tuple[Hashable, float]]) -> tuple[Hashable | None, bool]:
    """(winner, tied) of a weighted vote; None values are abstentions."""
    tally: dict[Hashable, float] = defaultdict(float)
    for value, weight in values:
        if value is not None:
            tally[value] += weight
    if not tally:
        return None, False
    ranked = sorted(tally.values(), reverse=True)
    if len(ranked) > 1 and math.isclose(ranked[0], ranked[1]):
        return None, True
    return max(tally, key=lambda k: tally[k]), False


def merge_votes(
    votes: Votes, taxonomy: Taxonomy, weights: Mapping[str, float] | None = None
) -> Merged:
    """One photo's labels from its annotators' (weights default to 1 each)."""
    weighted = [(lab, (weights or {}).get(annotator, 1.0)) for annotator, lab in votes]
    disagreed: list[HeadName] = []
    unresolved: list[HeadName] = []

    def decide(head: HeadName, values: list[tuple[Hashable, float]]) -> Hashable | None:
        if len({v for v, _ in values if v is not None}) > 1:
            disagreed.append(head)
        winner, tied = _vote(values)
        if tied:
            unresolved.append(head)
        return winner

    room = decide("room", [(lab.room, wt) for lab, wt in weighted])
    # Condition and signs count only the annotators who saw a home.
    home = [(lab, wt) for lab, wt in weighted if _saw_home(lab, taxonomy)]
    seen, unseen = _home_weights(home, weighted)
    if room == taxonomy.not_dwelling and not _outweighs(unseen, seen):
        # The most votes of any one room, yet no more than all who saw a home in some room.
        room = None
        unresolved.append("room")
    if room == taxonomy.not_dwelling:
        labels = PhotoLabels(room=str(room), condition=None, signs=frozenset())
        return Merged(labels, tuple(disagreed), tuple(unresolved))
    if room is None and not _outweighs(seen, unseen):
        labels = PhotoLabels(room=None, condition=None, signs=None)
        return Merged(labels, tuple(disagreed), tuple(unresolved))
    condition = decide("condition", [(lab.condition, wt) for lab, wt in home])
    signs, tied_signs = _merge_signs(home, taxonomy, disagreed, unresolved)
    merged = PhotoLabels(
        room=None if room is None else str(room),
        condition=None if condition is None else int(str(condition)),
        signs=signs,
    )
    return Merged(merged, tuple(disagreed), tuple(unresolved), tied_signs)


def _home_weights(
    home: list[tuple[PhotoLabels, float]], weighted: list[tuple[PhotoLabels, float]]
) -> tuple[float, float]:
    """(saw a home, did not): the weight of those who answered the room either way.

    A tied room still settles that the photo shows a home when the first outweighs the
    second: kitchen against bathroom leaves the room unknown, not the condition both gave;
    kitchen against not_dwelling leaves both unknown. And not_dwelling wins only when the
    second outweighs the first: kitchen, bathroom, not_dwelling, not_dwelling is a tie."""
    seen = sum(wt for _, wt in home)
    total = sum(wt for lab, wt in weighted if lab.room is not None)
    return seen, total - seen


def _outweighs(a: float, b: float) -> bool:
    return a > b and not math.isclose(a, b)


def _merge_signs(
    home: list[tuple[PhotoLabels, float]],
    taxonomy: Taxonomy,
    disagreed: list[HeadName],
    unresolved: list[HeadName],
) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """The merged signs (None when one sign tied: see the module's docstring) and the signs
    that tied, which the pull report names."""
    answered = [(lab.signs, wt) for lab, wt in home if lab.signs is not None]
    if not answered:
        return None, ()
    if len({s for s, _ in answered}) > 1:
        disagreed.append("signs")
    total = sum(wt for _, wt in answered)
    chosen: set[str] = set()
    tied: list[str] = []
    for sign in taxonomy.sign_names:
        share = sum(wt for s, wt in answered if sign in s) / total
        if math.isclose(share, 0.5):
            tied.append(sign)
        elif share > 0.5:
            chosen.add(sign)
    if tied:
        unresolved.append("signs")
        return None, tuple(tied)
    return frozenset(chosen), ()


# A new annotator is taken to agree with the others on 80 % of their answers, with the weight of
# ten answers (about three photos, three heads each): a few shared photos move the weight a
# little, many move it far.
PRIOR_AGREEMENT = 0.8
PRIOR_ANSWERS = 10.0
MIN_WEIGHT = 0.05  # below chance still votes, barely


def _agreements(labels: PhotoLabels, others: PhotoLabels, taxonomy: Taxonomy) -> tuple[int, int]:
    """(agreeing, compared) heads of one annotator against the others' merged labels.

    A head the others tied on or either side left blank is not compared; condition and signs
    only where both saw a home (as `merge_votes` counts them).
    """
    pairs: list[tuple[Hashable, Hashable]] = [(labels.room, others.room)]
    # The others' room may be tied (None) with their condition and signs merged.
    if _saw_home(labels, taxonomy) and others.room != taxonomy.not_dwelling:
        pairs += [(labels.condition, others.condition), (labels.signs, others.signs)]
    compared = [(a, b) for a, b in pairs if a is not None and b is not None]
    return sum(1 for a, b in compared if a == b), len(compared)


def reliability_weights(
    photos: Sequence[Votes], taxonomy: Taxonomy, *, rounds: int = 5
) -> dict[str, float]:
    """Per annotator, log-odds of agreeing with the other annotators' weighted vote.

    Leave-one-out: an annotator is compared only with what the others on the same photo
    answered, never with a consensus their own vote helped make, so labelling more photos
    earns no weight by itself, and between two annotators alone (one against one on every
    shared photo) the weights stay equal and their disagreements stay ties. The agreement
    rate is shrunk towards PRIOR_AGREEMENT (worth PRIOR_ANSWERS answers), so an annotator
    who shares few photos with others keeps about the prior's weight.
    """
    annotators = sorted({a for votes in photos for a, _ in votes})
    shared = [votes for votes in photos if len({a for a, _ in votes}) >= 2]
    weights = dict.fromkeys(annotators, 1.0)
    for _ in range(rounds):
        agree: dict[str, int] = defaultdict(int)
        compared: dict[str, int] = defaultdict(int)
        for votes in shared:
            for annotator, labels in votes:
                rest = [(a, lab) for a, lab in votes if a != annotator]
                others = merge_votes(rest, taxonomy, weights).labels
                a, t = _agreements(labels, others, taxonomy)
                agree[annotator] += a
                compared[annotator] += t
        weights = {a: _weight(agree[a], compared[a]) for a in annotators}
    return weights


def _weight(agree: int, compared: int) -> float:
    rate = (agree + PRIOR_AGREEMENT * PRIOR_ANSWERS) / (compared + PRIOR_ANSWERS)
    return max(math.log(rate / (1.0 - rate)), MIN_WEIGHT)


@dataclass
class MergeOutcome:
    merged: list[Merged]
    weights: dict[str, float] = field(default_factory=dict)


def merge_all(photos: Sequence[Votes], taxonomy: Taxonomy, *, method: MergeMethod) -> MergeOutcome:
    weights = reliability_weights(photos, taxonomy) if method == "reliability" else {}
    return MergeOutcome([merge_votes(v, taxonomy, weights or None) for v in photos], weights)
