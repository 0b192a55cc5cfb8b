"""Reading the oversight page as the national admin does, for its text tests: the page and its
plots' axes, a table's row headers, a plot's text alternative and its ticks."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from serving.web import plots

LANGUAGES = ["en", "ru", "kk"]


def read_figures(patch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plots encode from now on (until `patch` is undone), in order, each
    still encoded as the page's PNG is."""
    figures: list[Any] = []
    encode = plots._encode

    def kept(figure: Any) -> str:
        figures.append(figure)
        return encode(figure)

    patch.setattr(plots, "_encode", kept)
    return figures


def oversight_page(browser_for: Any, language: str) -> tuple[str, dict[str, Any]]:
    """The page as the national admin reads it, and its plots' axes by title."""
    with pytest.MonkeyPatch.context() as patch:
        figures = read_figures(patch)
        page = browser_for("admin_national").get(f"/ui/oversight?lang={language}").text
    return page, {figure.axes[0].get_title(): figure.axes[0] for figure in figures}


def table_rows(page: str, caption_id: str) -> list[str]:
    """The row headers of the table captioned `caption_id`."""
    table = re.search(rf'<caption[^>]*id="{caption_id}".*?</table>', page, re.S)
    assert table, caption_id
    found = re.findall(r'<th scope="row">(.*?)</th>', table.group(0), re.S)
    return [html.unescape(row).strip() for row in found]


def alt_names(page: str, title: str) -> list[str]:
    """The groups a plot's text alternative names, in order."""
    alts = [html.unescape(a) for a in re.findall(r'<img src="data:[^"]*" alt="([^"]*)"', page)]
    (alt,) = [a for a in alts if a.startswith(f"{title}: ")]
    return [item.split(": ")[0] for item in alt[len(title) + 2 :].split("; ")]


def tick_texts(axes: Any) -> list[str]:
    """The texts of a plot's x-axis ticks."""
    return [label.get_text() for label in axes.get_xticklabels()]
