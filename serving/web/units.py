"""Limits as the pages name them: bytes as megabytes, pixels as megapixels (10^6 of each).

A page says a figure with two decimals at most (`Translator.number`) and a limit must never
read above itself, so the figure is rounded down: to a tenth, or to a hundredth under 0.1 (a
limit of 54 kB reads 0.05 MB, not 0). Under 0.01 (10 kB) it would read 0: no photo is that
small, and the pages have no smaller unit to name it in.
"""

from __future__ import annotations

_MILLION = 1_000_000


def _millions(count: int) -> float:
    """`count` in millions, rounded down to a tenth, or to a hundredth under 0.1."""
    step = _MILLION // 10 if count >= _MILLION // 10 else _MILLION // 100
    return count // step / (_MILLION // step)


def megabytes(n_bytes: int) -> float:
    """`n_bytes` as the megabytes a page names (rounded down, never above the limit)."""
    return _millions(n_bytes)


def megapixels(n_pixels: int) -> float:
    """`n_pixels` as the megapixels a page names (rounded down, never above the limit)."""
    return _millions(n_pixels)
