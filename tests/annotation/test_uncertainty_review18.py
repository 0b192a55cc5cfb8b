"""Combined uncertainty: a photo the model is sure is not a home is not worth labelling for
its condition or signs (the loss ignores them, Label Studio hides them), so those heads count
only as much as the model thinks the photo shows a home."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.select import SelectionParams, select_photos
from annotation.tasks import prediction_from_score
from annotation.uncertainty import HeadProbabilities, combined_uncertainty
from shanyraq.taxonomy import HeadName
from vision.score import PhotoScore

WEIGHTS: dict[HeadName, float] = {"room": 1.0, "condition": 1.0, "signs": 0.5}


def _score(taxonomy, name: str, *, room: dict[str, float], condition_top: float, sign_p: float):
    """A score with the given room probabilities (the rest spread evenly over other rooms)."""
    rest = [r for r in taxonomy.room_names if r not in room]
    left = (1 - sum(room.values())) / len(rest)
    rooms = {r: room.get(r, left) for r in taxonomy.room_names}
    grades = taxonomy.condition_values
    condition = {
        g: condition_top if k == 0 else (1 - condition_top) / (len(grades) - 1)
        for k, g in enumerate(grades)
    }
    signs = dict.fromkeys(taxonomy.sign_names, sign_p)
    emb = np.random.default_rng(len(name)).normal(size=8).astype(np.float32)
    return PhotoScore(name, "m1", rooms, condition, signs, emb)


def _not_a_home(taxonomy, p: float = 0.98) -> PhotoScore:
    """Sure it is not a home; condition and signs (which mean nothing there) clueless."""
    room = {taxonomy.not_dwelling: p}
    return _score(taxonomy, "street", room=room, condition_top=0.2, sign_p=0.5)


def _home(taxonomy) -> PhotoScore:
    """Sure it is a kitchen, fairly unsure of its condition."""
    return _score(taxonomy, "kitchen", room={"kitchen": 0.98}, condition_top=0.5, sign_p=0.2)


@pytest.mark.parametrize("method", ["margin", "entropy"])
def test_a_photo_sure_not_to_be_a_home_ranks_below_an_unsure_home(taxonomy, method):
    scores = [_not_a_home(taxonomy), _home(taxonomy)]
    ranked = combined_uncertainty(scores, method=method, head_weights=WEIGHTS)
    assert ranked[1] > ranked[0]
    assert select_photos(
        scores, SelectionParams(budget=1, diversity="kcenter"), method=method, head_weights=WEIGHTS
    ) == [1]


@pytest.mark.parametrize("p_not_home", [0.0, 0.3, 0.5, 0.98])
def test_condition_and_signs_count_by_the_chance_of_a_home_room_stays_whole(taxonomy, p_not_home):
    score = _not_a_home(taxonomy, p_not_home)
    probs = HeadProbabilities.from_scores([score])
    per_head = probs.uncertainties("margin")
    expected = (
        per_head["room"] * 1.0
        + (1 - p_not_home) * (per_head["condition"] * 1.0 + per_head["signs"] * 0.5)
    ) / 2.5
    got = combined_uncertainty([score], method="margin", head_weights=WEIGHTS)
    assert got == pytest.approx(expected)


def test_arrays_without_a_not_a_home_column_count_every_photo_as_a_home():
    """Probabilities built by hand name no not-a-home column: nothing is discounted."""
    room = np.array([[0.9, 0.1], [0.5, 0.5]])
    plain = HeadProbabilities(room=room, condition=room, signs=np.zeros((2, 0)))
    marked = HeadProbabilities(room=room, condition=room, signs=np.zeros((2, 0)), not_dwelling=0)
    whole = combined_uncertainty(plain, method="margin", head_weights=WEIGHTS)
    room_u = plain.uncertainties("margin")["room"]
    assert whole == pytest.approx((room_u + room_u) / 2.5)  # condition = room here, signs none
    discounted = combined_uncertainty(marked, method="margin", head_weights=WEIGHTS)
    assert discounted == pytest.approx(whole * (1 + np.array([0.1, 0.5])) / 2)


def test_a_photo_the_model_gave_no_number_for_stays_most_uncertain(taxonomy):
    """NaN room probabilities say nothing about the photo being a home: not a discount."""
    nan = float("nan")
    home = _home(taxonomy)
    unread = PhotoScore(
        "x",
        "m1",
        dict.fromkeys(home.room, nan),
        dict.fromkeys(home.condition, nan),
        dict.fromkeys(home.signs, nan),
        home.embedding,
    )
    got = combined_uncertainty([unread, home], method="margin", head_weights=WEIGHTS)
    assert got[0] == pytest.approx(1.0)


def test_pre_annotation_scores_discount_not_a_home_photos_as_selection_does(taxonomy):
    """Label Studio serves the lowest prediction score first: a photo sure not to be a home
    comes after an unsure home, by 1 - the same combined uncertainty."""
    params = SelectionParams(budget=1, head_weights=WEIGHTS)
    scores = [_not_a_home(taxonomy), _home(taxonomy)]
    ranked = combined_uncertainty(scores, method=params.method, head_weights=params.weights())
    served = [
        prediction_from_score(s, taxonomy, sign_threshold=0.5, ranking=params)["score"]
        for s in scores
    ]
    assert served[1] < served[0]
    assert served == pytest.approx([1 - ranked[0], 1 - ranked[1]], abs=1e-6)


def test_the_learning_curves_learner_weights_as_selection_does():
    # The curve measures selection: its learner's probabilities must name the not-a-home
    # column, or the curve would rank by another uncertainty than `annotate select`.
    from annotation.curve import HeadLearners
    from shanyraq.taxonomy import get_taxonomy
    from tests.annotation.helpers import feature_pool

    taxonomy = get_taxonomy()
    pool = feature_pool(200, taxonomy, seed=4)
    probs = HeadLearners(taxonomy).fit(pool, np.arange(60)).probabilities(pool.features)
    away = taxonomy.room_names.index(taxonomy.not_dwelling)
    assert probs.not_dwelling == away
    np.testing.assert_allclose(probs.home_probability(), 1.0 - probs.room[:, away])
