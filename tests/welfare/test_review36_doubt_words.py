"""The photo doubts read as English sentences: "1 usable photo", "0 usable photos", "2 photos
reused from another family", never "photo(s)"."""

from __future__ import annotations

import pytest

from tests.welfare.assess_helpers import doubts_of
from welfare.aggregate import PhotoFlags
from welfare.statements import Code


def _said(doubts, code):
    return [d.text for d in doubts if d.code == code]


@pytest.mark.parametrize(
    ("usable", "words"),
    [(0, "0 usable photos"), (1, "1 usable photo"), (3, "3 usable photos")],
)
def test_too_few_photos_counts_them_in_the_singular_or_plural(
    welfare_config, taxonomy, usable, words
):
    four = welfare_config.recommendation.model_copy(update={"min_usable_photos": 4})
    config = welfare_config.model_copy(update={"recommendation": four})
    _, doubts = doubts_of(config, taxonomy, 0.95, photos=usable)
    assert _said(doubts, Code.DOUBT_TOO_FEW_PHOTOS) == [f"{words}; at least 4 needed"]


@pytest.mark.parametrize(("reused", "words"), [(1, "1 photo"), (2, "2 photos")])
def test_reused_photos_are_counted_in_the_singular_or_plural(
    welfare_config, taxonomy, reused, words
):
    flags = [PhotoFlags(reused=True)] * reused + [None, None]
    _, doubts = doubts_of(welfare_config, taxonomy, 0.95, photos=reused + 2, flags=flags)
    assert _said(doubts, Code.DOUBT_REUSED_PHOTOS) == [f"{words} reused from another family"]
