"""A page refused for the reader's role names the roles that may open it, in the reader's
language, and says nothing else: not whether the family exists, nor its region."""

from __future__ import annotations

import re

from serving.api.routes.assessments import DECIDERS, READERS
from serving.web.i18n import LANGUAGES, translator
from tests.serving.helpers import OTHER_REGION
from tests.web.helpers import csrf_from, main_words


def _roles_named(page: str, language: str) -> list[str] | None:
    """The roles the page names as allowed, as their labels in `language` (None: no such line)."""
    t = translator(language)
    before, after = t("error.roles_allowed").split("{roles}")
    found = re.search(re.escape(before) + r"(.*?)" + re.escape(after), main_words(page))
    return found.group(1).split(", ") if found else None


def _labels(language: str, roles: tuple[str, ...]) -> list[str]:
    return sorted(translator(language).label("role", role) for role in roles)


def test_a_refused_page_names_the_roles_that_may_open_it_in_every_language(web, browser_for):
    web.create_family("F1")
    annotator = browser_for("annotator")
    for language in LANGUAGES:
        refused = annotator.get(f"/ui/families/F1?lang={language}")
        assert refused.status_code == 403, refused.text
        named = _roles_named(refused.text, language)
        assert named is not None and sorted(named) == _labels(language, READERS), named
        assert translator(language).label("role", "annotator") not in named


def test_a_refused_form_names_the_roles_that_may_send_it(web, browser_for):
    web.create_family("F1")
    inspector = browser_for("inspector")
    page = inspector.get("/ui/families/F1?lang=ru")
    assert page.status_code == 200
    form = {"csrf_token": csrf_from(page.text), "assessment_id": "1", "kind": "accept"}
    refused = inspector.post("/ui/families/F1/decisions", data=form)
    assert refused.status_code == 403
    assert _roles_named(refused.text, "ru") == _labels("ru", DECIDERS)


def test_the_refusal_says_nothing_of_the_family_asked_for(web, browser_for):
    web.create_family("F1")
    web.create_family("F2", region=OTHER_REGION)
    annotator = browser_for("annotator")
    for language in LANGUAGES:
        pages = [
            annotator.get(f"/ui/families/{family_id}?lang={language}")
            for family_id in ("F1", "F2", "F404")  # this region's, another region's, none
        ]
        assert [p.status_code for p in pages] == [403, 403, 403]
        shown = {main_words(p.text) for p in pages}
        assert len(shown) == 1, shown  # the same words, whether or where the family exists
        other_region = translator(language).label("region", OTHER_REGION)
        assert not any(other_region in p.text or "F1" in main_words(p.text) for p in pages)


def test_a_refusal_for_another_reason_names_no_roles(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")  # a role that may decide: the form is out of date
    commission.get("/ui/families/F1?lang=en")
    form = {"csrf_token": "0" * 64, "assessment_id": "1", "kind": "accept"}
    refused = commission.post("/ui/families/F1/decisions", data=form)
    assert refused.status_code == 403
    assert _roles_named(refused.text, "en") is None
