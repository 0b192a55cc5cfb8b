"""The families list says why an assessment is not current when it is kept as it was for want
of the fusion model it was made with (assessments.held_back), in bounded queries."""

from __future__ import annotations

from serving.db.models import Assessment
from serving.db.session import session_scope
from serving.web.i18n import translator
from tests.web.sql_count_helpers import statements_sent


def _assess(web, commission, family_id: str) -> None:
    """`family_id` filed and its first assessment made (by opening its page)."""
    web.create_family(family_id)
    assert commission.get(f"/ui/families/{family_id}").status_code == 200


def _made_with_a_fusion_model(web, family_id: str) -> None:
    """The family's assessment now reads as made by a fusion model this service lacks."""
    with session_scope(web.services.sessions) as session:
        for row in session.query(Assessment).filter(Assessment.family_id == family_id):
            row.model_versions = {**row.model_versions, "fusion": "lgbm_tabular-000000000000"}


def _row(page: str, family_id: str) -> str:
    return page.split(f">{family_id}</a>")[1].split("</tr>")[0]


def test_the_list_says_an_assessment_is_held_back_for_want_of_the_fusion_model(web, browser_for):
    commission = browser_for("commission")
    _assess(web, commission, "F1")
    _assess(web, commission, "F2")
    _made_with_a_fusion_model(web, "F1")
    for language in ("en", "ru", "kk"):
        t = translator(language)
        page = commission.get(f"/ui/families?lang={language}")
        assert page.status_code == 200
        held, current = _row(page.text, "F1"), _row(page.text, "F2")
        outdated = t("families.outdated", reason="").removesuffix(": ")
        assert t("families.held_back") in held and outdated not in held
        assert t("families.held_back") not in current and outdated not in current


def test_a_site_that_serves_on_the_rules_alone_lists_it_as_out_of_date(web, browser_for):
    web.services.settings.allow_rules_only = True  # recomputed when opened, not held back
    commission = browser_for("commission")
    _assess(web, commission, "F1")
    _made_with_a_fusion_model(web, "F1")
    t = translator("en")
    held = _row(commission.get("/ui/families").text, "F1")
    assert t("families.held_back") not in held
    # The exact reason, not a guess: the service's fusion model is now "none".
    assert t("families.outdated", reason=t.label("stale_reason", "fusion_model")) in held


def test_the_list_reads_the_reasons_in_as_many_queries_for_many_families(web, browser_for):
    commission = browser_for("commission")
    counts, held = [], 0
    for family_ids in (["F1"], ["F2", "F3", "F4"]):
        for family_id in family_ids:
            _assess(web, commission, family_id)
            _made_with_a_fusion_model(web, family_id)
        held += len(family_ids)
        with statements_sent(web) as seen:
            page = commission.get("/ui/families")
        assert page.text.count(translator("en")("families.held_back")) == held
        counts.append(len(seen))
    assert counts[0] == counts[1]
