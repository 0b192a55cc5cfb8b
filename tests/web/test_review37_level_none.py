"""The oversight page's override rate by level names the families whose assessment abstained
(no level) as its other rows are named (`row_label`), in the table, the plot's ticks and the
plot's text alternative, in every language: "No level", never the code "none" or a blank."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from serving.db.models import Decision
from serving.web.i18n import translator
from serving.web.plots import row_label, tick_label
from tests.web.oversight_helpers import decide_family
from tests.web.oversight_page_helpers import (
    LANGUAGES,
    alt_names,
    oversight_page,
    table_rows,
    tick_texts,
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_decided_family_whose_assessment_abstained_is_named_no_level(web, browser_for, language):
    decide_family(web, "F1")  # no photo model here: the assessment gives no level
    with web.services.sessions() as session:
        assert session.scalars(select(Decision.model_level)).all() == [None]
    t = translator(language)
    page, axes = oversight_page(browser_for, language)
    named = row_label(t.label("level_short", "none"))
    assert named[:1].isupper() and named != "None", named
    assert table_rows(page, "cap-by-level") == [named]
    title = t("oversight.by_level")
    assert tick_texts(axes[title]) == [tick_label(named, count=1)]
    assert alt_names(page, title) == [named]
