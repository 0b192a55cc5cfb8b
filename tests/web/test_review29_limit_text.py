"""The limits as the pages name them: one rounding (serving.web.units) for the 413 page and the
upload page, which reads sensibly under 1 MB too; and a signed-in page post refused as too
large is checked against its session once, for the audit and the page's menu together."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.web.units import megabytes, megapixels
from tests.serving.helpers import Service, started
from tests.web.helpers import found_text, page_client
from tests.web.sign_in_helpers import SIGNED_IN_MENU, sign_in_checks_made
from tests.web.too_large_helpers import (
    CATALOGUES,
    LIMIT,
    MULTIPART,
    page_post_over,
    too_large_entries,
)

SMALL_LIMIT = 54_321  # max_body_bytes under 0.1 MB: 0.05 MB, rounded down
SMALL_SHOWN = {"en": "0.05", "ru": "0,05", "kk": "0,05"}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Service]:
    with started(tmp_path, max_body_bytes=SMALL_LIMIT) as service:
        yield service


# --- one rounding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_bytes", "shown"),
    [
        (33_554_432, 33.5),  # the shipped max_body_bytes
        (LIMIT, 1.2),
        (1_000_000, 1.0),
        (999_999, 0.9),
        (100_000, 0.1),
        (99_999, 0.09),
        (SMALL_LIMIT, 0.05),
        (10_000, 0.01),
    ],
)
def test_a_limit_reads_in_megabytes_rounded_down(n_bytes, shown):
    assert megabytes(n_bytes) == shown


def test_a_limit_from_10_kb_never_reads_zero_or_above_itself():
    for n_bytes in [*range(10_000, 200_000, 997), *range(10**6 - 50, 10**6 + 50), 2**25]:
        figure = megabytes(n_bytes)
        assert figure > 0 and figure * 1_000_000 <= n_bytes + 1e-6, n_bytes
        assert round(figure, 2) == figure, n_bytes  # the two decimals a page shows (no rounding)


def test_megapixels_round_as_megabytes():
    assert [megapixels(n) for n in (40_000_000, 12_345_678, 250_000, 50_000)] == [
        40.0,
        12.3,
        0.2,
        0.05,
    ]


# --- the pages name a small limit ----------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_413_page_names_a_limit_under_0_1_mb(small, language):
    answer = page_post_over(page_client(small, "inspector", language), SMALL_LIMIT)
    assert answer.status_code == 413
    said = found_text(r'<p id="error-limit">(.*?)</p>', answer.text)
    assert said == CATALOGUES[language]["error.body_limit"].format(mb=SMALL_SHOWN[language])


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_the_upload_page_names_the_same_small_limit(small, language):
    page = page_client(small, "inspector", language).get("/ui/upload")
    assert page.status_code == 200
    said = found_text(r'data-too-large="(.*?)"', page.text)
    text = CATALOGUES[language]["upload_error.body_too_large"]
    assert said == text.format(mb=SMALL_SHOWN[language])


# --- one sign-in check ----------------------------------------------------------------------------


def _post_over(client: Any, limit: int) -> Any:
    """A page's form post declaring one byte over `limit` (refused unread: no form needed)."""
    headers = {**MULTIPART, "Content-Length": str(limit + 1)}
    return client.post("/ui/upload", content=b"x", headers=headers)


def test_a_signed_in_page_post_over_the_limit_checks_its_session_once(limited):
    client = page_client(limited, "inspector")
    answer, checks = sign_in_checks_made(limited, lambda: client.get("/ui/upload"))
    assert answer.status_code == 200 and checks == 1  # what is counted: a page's one check
    answer, checks = sign_in_checks_made(limited, lambda: _post_over(client, LIMIT))
    assert answer.status_code == 413
    assert checks == 1
    # That one check both audits the refusal and shows the page's menu.
    [entry] = too_large_entries(limited)
    assert entry.actor == "inspector"
    assert SIGNED_IN_MENU in answer.text


def test_a_signed_out_page_post_over_the_limit_shows_no_menu(limited):
    from fastapi.testclient import TestClient

    anonymous = TestClient(limited.app, base_url="http://127.0.0.1")
    answer, checks = sign_in_checks_made(limited, lambda: _post_over(anonymous, LIMIT))
    assert answer.status_code == 413 and checks == 0
    assert SIGNED_IN_MENU not in answer.text
    assert too_large_entries(limited) == []
