"""What the heat-map toggle's browser tests read of a family page: the sign toggled, the
status line it shows, and scripts that read a card's status and pressed buttons and watch the
photo load again."""

from __future__ import annotations

from serving.web.i18n import load_catalogues

EN = load_catalogues()["en"]
SIGN = "damp_mould"
SHOWN = EN["photo.heat_shown"].format(sign=EN[f"sign.{SIGN}"])
STATUS = "f => f.querySelector('.heat-status').textContent"
PRESSED = (
    "f => Array.from(f.querySelectorAll('button.heat-toggle'))"
    ".filter(b => b.getAttribute('aria-pressed') === 'true').length"
)
# Every load of the photo from here on, by its src; a listener added after the page's own
# onload handler, so the handler has run for each load this lists.
WATCH_LOADS = (
    "img => { img.loads = [];"
    " img.addEventListener('load', () => img.loads.push(img.getAttribute('src'))); }"
)
ORIGINAL_LOADED = "img => img.loads.includes(img.dataset.original)"
