"""The decision form's help under the reason states both limits the service checks, the
minimum of an override's reason and the maximum of any (configs/serving.yaml `reason_chars`
as the service runs with it), each number written as the page writes numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.web.i18n import translator
from tests.serving.decision_helpers import assess
from tests.serving.helpers import started
from tests.web.helpers import found_text, page_client

HELP = r'<p class="sub" id="reason-help">(.*?)</p>'


@pytest.mark.parametrize(
    ("language", "least", "most"),
    [
        ("en", "1,200", "12,345"),
        ("ru", "1\u00a0200", "12\u00a0345"),
        ("kk", "1\u00a0200", "12\u00a0345"),
    ],
)
def test_the_help_states_the_configured_maximum(tmp_path: Path, language, least, most):
    limits = {"override_min": 1200, "decision_max": 12345}
    with started(tmp_path, reason_chars=limits) as web:
        web.create_family("F1")
        assess(web, level=3)
        page = page_client(web, "commission", language).get("/ui/families/F1").text
    t = translator(language)
    help_text = found_text(HELP, page)
    assert help_text == t("decision.reason_help", n=least, max=most)
    assert least in help_text and most in help_text
    assert help_text.index(least) < help_text.index(most)  # the minimum first, as worded
    assert 'maxlength="12345"' in page  # the field stops where the help says
