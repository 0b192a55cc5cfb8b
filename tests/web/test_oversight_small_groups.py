"""The oversight page shows each group's families, marks the groups too small for the
fairness gap (configs/welfare.yaml fairness.min_families_per_group), and says why the gap
leaves them out."""

from __future__ import annotations

import re

import pytest

from tests.serving.helpers import OTHER_REGION
from tests.web.oversight_helpers import decide_family


def _region_rows(page: str) -> dict[str, str]:
    """The region table's rows, by group name: the families cell's text."""
    block = page.split("<h3>region</h3>")[1].split("<h3>")[0]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>(.*?)</td>', block)
    return dict(rows)


@pytest.fixture
def min_families(monkeypatch):
    """Set fairness.min_families_per_group for the reports."""
    import welfare.criteria

    shipped = welfare.criteria.get_welfare_config()

    def set_to(n: int) -> None:
        fairness = shipped.fairness.model_copy(update={"min_families_per_group": n})
        config = shipped.model_copy(update={"fairness": fairness})
        monkeypatch.setattr(welfare.criteria, "get_welfare_config", lambda: config)

    return set_to


def test_groups_too_small_for_the_gap_are_marked_and_the_reason_given(
    web, browser_for, min_families
):
    for family_id in ("F1", "F2"):
        decide_family(web, family_id)
    decide_family(web, "F3", region=OTHER_REGION)
    admin = browser_for("admin_national")

    page = admin.get("/ui/oversight").text  # the shipped minimum, 10: every group too small
    assert _region_rows(page) == {
        "Astana": '1 <span class="badge q-warn">too few</span>',
        "Shymkent": '2 <span class="badge q-warn">too few</span>',
    }
    assert "No gap: fewer than two groups have 10 or more families." in page
    assert "Groups with fewer than 10 families (marked “too few”) are left out" in page

    min_families(2)  # Shymkent counts, Astana does not: still no gap, and why
    page = admin.get("/ui/oversight").text
    assert _region_rows(page) == {
        "Astana": '1 <span class="badge q-warn">too few</span>',
        "Shymkent": "2",
    }
    assert "No gap: fewer than two groups have 2 or more families." in page

    min_families(1)  # every group counts: the gap, and no group marked
    page = admin.get("/ui/oversight").text
    assert _region_rows(page) == {"Astana": "1", "Shymkent": "2"}
    assert "Largest gap in override rate: 0%" in page
    assert "too few" not in page and "are left out of the gap" not in page


def test_the_reason_is_given_in_russian_and_kazakh(web, browser_for):
    decide_family(web, "F1")
    admin = browser_for("admin_national")
    for language, words in (("ru", "в разрыв не входят"), ("kk", "айырмаға кірмейді")):
        page = admin.get("/ui/oversight", headers={"Accept-Language": language}).text
        assert words in page, language
