"""Texts that drifted from the code (review 27): the photos-not-used doubt and feature name the
repeats their count holds; a photo reused from another family is not worded as a repeat; the
decision reason's limits come from the service's settings, grouped as the pages write
numbers; the page for a form post over the body limit tells one photo what to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.web.i18n import LANGUAGES, load_catalogues, translator
from tests.serving.decision_helpers import assess
from tests.serving.helpers import Service, jpeg, started
from tests.web.helpers import csrf_from, found_text, page_client
from tests.welfare.assess_helpers import inputs
from welfare.aggregate import PhotoFlags
from welfare.criteria import get_welfare_config
from welfare.doubts import recommend
from welfare.features import feature_space
from welfare.statements import Code

CATALOGUES = load_catalogues()
# Each language's word for a photo of the family sent again, and for another family's photo.
REPEAT = {"en": "repeat", "ru": "повтор", "kk": "қайтала"}
OTHER_FAMILY = {"en": "another family", "ru": "другой семьи", "kk": "басқа отбасы"}


# --- photos not used: repeats are among them ----------------------------------------------------


def test_the_photos_not_used_doubt_names_the_repeats_its_count_holds(taxonomy):
    """One usable photo and the same photo sent twice more: nothing abstained, failed, was
    reused or is not a home, so only the words for repeats cover what the count holds."""
    config = get_welfare_config()
    repeat = PhotoFlags(repeated=True)
    given = inputs(config, taxonomy, 0.95, photos=3, flags=[None, repeat, repeat])
    visual = given["visual"]
    counts = (visual.n_flagged, visual.n_repeated, visual.n_reused, visual.n_abstained)
    assert counts == (2, 2, 0, 0)
    band, doubts = recommend(**given)
    assert band == "needs_review"
    flagged = next(d for d in doubts if d.code == Code.DOUBT_FLAGGED_PHOTOS)
    assert flagged.params == {"flagged": 2, "total": 3}
    assert REPEAT["en"] in flagged.text
    for language in LANGUAGES:
        said = translator(language).statement(flagged.to_dict())
        assert REPEAT[language] in said.lower(), said
        assert OTHER_FAMILY[language] in said, said  # a reuse is another family's photo


def test_the_photos_not_used_feature_names_repeats_and_reuse_by_another_family(taxonomy):
    words = feature_space(get_welfare_config(), taxonomy).words["vis_flagged_photos"]
    assert "repeated" in words and "another family" in words
    for language in LANGUAGES:
        label = translator(language).label("feature", "vis_flagged_photos")
        assert REPEAT[language] in label.lower() and OTHER_FAMILY[language] in label, label


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_a_reused_photo_is_worded_as_another_familys_not_as_a_repeat(language):
    """`flag.reused` (filed for another family: a fraud signal) must not read as
    `flag.repeated` (the family's own photo sent again), and says it as the other reuse texts."""
    reused = CATALOGUES[language]["flag.reused"]
    assert OTHER_FAMILY[language] in reused and REPEAT[language] not in reused.lower(), reused
    for key in ("upload.reused", "doubt.reused_photos"):  # the same words as the other texts
        assert OTHER_FAMILY[language] in CATALOGUES[language][key].lower()


# --- the decision reason's limits -------------------------------------------------------------


@pytest.mark.parametrize(("language", "grouped"), [("en", "1,200"), ("ru", "1\u00a0200")])
def test_the_reason_help_says_the_minimum_the_service_checks(tmp_path, language, grouped):
    """The minimum has one source (configs/serving.yaml reason_chars.override_min): a service
    started with another, the help under the field and the refusal of a shorter reason both
    say it, grouped as the page writes numbers."""
    with started(tmp_path, reason_chars={"override_min": 1200}) as web:
        web.create_family("F1")
        aid = assess(web, level=3)
        commission = page_client(web, "commission", language)
        page = commission.get(f"/ui/families/F1?lang={language}").text
        help_text = found_text(r'<p class="sub" id="reason-help">(.*?)</p>', page)
        t = translator(language)
        most = t.number(web.services.settings.reason_chars.decision_max)
        assert help_text == t("decision.reason_help", n=grouped, max=most)
        assert grouped in help_text and "10 " not in help_text
        form = {
            "csrf_token": csrf_from(page), "kind": "override", "level": "2",
            "reason_code": "income_evidence", "reason": "x" * 1199, "assessment_id": str(aid),
        }  # fmt: skip
        refused = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    assert refused.status_code == 422
    said = found_text(r'<p class="error" role="alert" id="decision-error">(.*?)</p>', refused.text)
    assert t("decision_error.reason_too_short", n=grouped) in said


@pytest.mark.parametrize(("language", "grouped"), [("ru", "2\u00a0000"), ("kk", "2\u00a0000")])
def test_a_reason_over_the_limit_is_told_the_limit_grouped(web, browser_for, language, grouped):
    assert web.services.settings.reason_chars.decision_max == 2000  # the figure `grouped` writes
    web.create_family("F1")
    aid = assess(web, level=3)
    commission = browser_for("commission")
    page = commission.get(f"/ui/families/F1?lang={language}").text
    form = {
        "csrf_token": csrf_from(page), "kind": "override", "level": "2",
        "reason_code": "income_evidence", "reason": "x" * 2001, "assessment_id": str(aid),
    }  # fmt: skip
    refused = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    assert refused.status_code == 422
    said = found_text(r'<p class="error" role="alert" id="decision-error">(.*?)</p>', refused.text)
    assert translator(language)("decision_error.reason_too_long", n=grouped) in said
    assert "2000" not in said


# --- a form post over the body limit ------------------------------------------------------------


@pytest.fixture
def small_body(tmp_path: Path) -> Iterator[Service]:
    """An app whose body limit (max_body_bytes) is 200 kB, under one large photo."""
    with started(tmp_path, max_body_bytes=200_000) as service:
        yield service


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_photo_over_the_body_limit_is_told_what_to_do_with_it(small_body, language):
    """Sent alone without the page's script, a photo over the limit gets the 413 page: "send
    fewer photos" does not help it; the page gives the step the upload refusal of a photo
    too large gives."""
    small_body.create_family("F1")
    inspector = page_client(small_body, "inspector", language)
    photo = jpeg(1, size=(1600, 1200))
    assert len(photo) > 200_000
    answer = inspector.post(
        "/ui/upload",
        data={"csrf_token": csrf_from(inspector.get("/ui/upload").text), "family_id": "F1"},
        files=[("files", ("big.jpg", photo, "image/jpeg"))],
    )
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    said = found_text(r"</h1>\s*<p>(.*?)</p>", answer.text)
    assert said == CATALOGUES[language]["error_reason.body_too_large"]
    # The upload refusal's next step for a photo too large: "Take it again ... smaller copy."
    step = CATALOGUES[language]["upload_error.body_too_large"].split(". ", 1)[1].rstrip(".")
    assert step.casefold() in said.casefold(), (step, said)
