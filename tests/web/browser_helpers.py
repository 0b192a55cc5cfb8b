"""Helpers of the tests that drive the pages in a real browser: a screenshot under
test-output/screenshots/, and a page's controls, images and tab order checked for access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.serving.helpers import ROOT

SHOTS = ROOT / "test-output" / "screenshots"


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """A screenshot of `page` as SHOTS/`name`.png (the whole page unless `full_page` is off)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def assert_accessible(page: Any) -> None:
    """Every control has a label, every image a text, nothing is taken out of the tab order."""
    problems = page.evaluate(
        """() => {
        const out = [];
        for (const el of document.querySelectorAll('input, select, textarea')) {
            if (el.type === 'hidden') continue;
            if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                out.push('unlabelled ' + (el.id || el.name));
        }
        for (const img of document.querySelectorAll('img'))
            if (!img.getAttribute('alt')) out.push('image without alt ' + img.src.slice(0, 60));
        for (const el of document.querySelectorAll('a[href], button, input, select, textarea'))
            if (el.tabIndex < 0) out.push('not keyboard reachable ' + el.outerHTML.slice(0, 60));
        return out;
    }"""
    )
    assert problems == []
