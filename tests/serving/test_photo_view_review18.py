"""Review of the family page (helper-196): a photo's card says the system does not use its
scores exactly when the assessment leaves it out (welfare.aggregate), and one whose top room is
not a dwelling (or tied with it) hides its sign probabilities and heat maps though the engine did
not abstain."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serving.db.models import Family, Photo
from serving.db.session import session_scope
from serving.photo_evidence import photo_flags, photo_score
from serving.reuse_links import reuse_links_of
from serving.web import heatmaps
from serving.web.i18n import translator
from serving.web.photo_cards import photo_view
from shanyraq.taxonomy import get_taxonomy
from tests.serving.family_flag_helpers import KINDS, current_user
from tests.serving.helpers import PASSWORD
from tests.web.helpers import sign_in
from vision.score import ABSTAIN_LOW_CONFIDENCE, ABSTAIN_NOT_DWELLING, ABSTAIN_QUALITY
from welfare.aggregate import aggregate
from welfare.criteria import get_welfare_config

# The reason each kind's card names, beside any its stored score gives.
NAMED = {
    "abstained": ("abstain", ABSTAIN_LOW_CONFIDENCE),
    "quality_failed": ("abstain", ABSTAIN_QUALITY),
    "nan_condition": ("abstain", ABSTAIN_LOW_CONFIDENCE),  # engine: no number, low confidence
    "nan_sign": ("abstain", ABSTAIN_LOW_CONFIDENCE),
    "not_dwelling": ("abstain", ABSTAIN_NOT_DWELLING),
    "tied_with_not_dwelling": ("abstain", ABSTAIN_NOT_DWELLING),
    "reused": ("flag", "reused"),
}
NOT_A_HOME = {"not_dwelling", "tied_with_not_dwelling"}


def _views(web):
    """Each kind's photo: (its card, whether the assessment's aggregation uses it, the photo)."""
    user = current_user(web, "commission")
    taxonomy, config = get_taxonomy(), get_welfare_config()
    found = {}
    with session_scope(web.services.sessions) as session:
        for kind in KINDS:
            family = session.get(Family, f"F-{kind}")
            assert family is not None
            photo = session.execute(select(Photo).where(Photo.family_id == family.id)).scalar_one()
            links = reuse_links_of(session, [photo])
            visual = aggregate(
                [photo_score(photo, taxonomy)],
                flags=[photo_flags(web.services, photo, family, linked=photo.id in links)],
                expected_rooms=config.fusion.expected_rooms,
                taxonomy=taxonomy,
            )
            view = photo_view(web.services, photo, user, number=1, linked=links.get(photo.id, ()))
            found[kind] = (view, visual.n_usable == 1, heatmaps.not_a_home(photo))
    return found


def test_a_card_says_its_scores_are_left_out_exactly_when_the_assessment_leaves_them_out(
    families,
):
    # Before: a photo whose top room is not_dwelling (or tied with it) without an abstain,
    # and a stored score with a NaN probability and no abstain, were left out by the
    # assessment, yet their cards named no reason and showed their scores as evidence.
    views = _views(families)
    assert {kind: used for kind, (_, used, _) in views.items()} == {
        kind: kind == "usable" for kind in KINDS
    }  # the photos are of the kinds named
    for kind, (view, used, _) in views.items():
        if kind == "unscored":  # the card says "not scored" instead (photo.unscored_stored)
            assert not view.scored
            continue
        assert bool(view.left_out) == (not used), kind
        if kind in NAMED:
            assert NAMED[kind] in view.left_out, (kind, view.left_out)
        assert len(set(view.left_out)) == len(view.left_out), (kind, view.left_out)


def test_a_photo_whose_top_room_is_not_a_dwelling_hides_its_signs_and_heat_maps(families):
    views = _views(families)
    for kind, (view, _, said_not_a_home) in views.items():
        expected = kind in NOT_A_HOME
        assert view.not_a_home == expected == said_not_a_home, kind
        if expected:
            assert view.signs == [] and not view.evidence, kind
        elif view.scored:
            assert view.signs, kind  # the control: other photos keep their signs


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
@pytest.mark.parametrize("kind", sorted(NOT_A_HOME | {"nan_sign"}))
def test_the_page_names_why_in_the_readers_words(families, kind, lang):
    client = TestClient(families.app, base_url="http://127.0.0.1")
    assert sign_in(client, "commission", PASSWORD).status_code == 303
    page = client.get(f"/ui/families/F-{kind}?lang={lang}").text
    card = re.search(r'<figure class="photo".*?</figure>', page, re.S)
    assert card, page
    text = html.unescape(card.group(0))
    t = translator(lang)
    reason = t.label(*NAMED[kind])
    assert f"{t('photo.abstained')} {reason}" in text, text
    assert ('class="probs signs"' in text) == (kind not in NOT_A_HOME), text
