"""A guard on the pages of Label Studio's lists, checked as each page arrives.

The SDK pages a list (projects, tasks) until a page comes back empty or answers 404, and
takes every answer on trust: an answer of another shape (a proxy's, another service's,
another API version's) can make it page forever (`{"results": "nope"}` looks like a page of
four items) or fail deep inside the SDK. Every answer to a paged GET goes through
`PageGuard` first (an httpx response hook). It is refused (UnexpectedAnswer) unless it is a
JSON object holding a list of items, each an object with a whole-number id (and the fields
Shanyraq reads), and a whole-number total. Paging is bounded: a page that brings nothing
new (a server that ignores the page number), or items beyond the total the server itself
gives, stops it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

# The list in a page of each kind, its total, and what Shanyraq reads of each item.
_ITEMS_KEYS = {"results": "count", "tasks": "total"}
_FIELDS: dict[str, dict[str, type]] = {
    "/api/projects/": {"title": str},
    "/api/tasks/": {"data": dict},
}
_SHOWN = 80  # characters of an unexpected answer quoted in the message


class UnexpectedAnswer(Exception):
    """An answer the SDK cannot be trusted with; `api_errors` names the server and action."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _quote(body: object) -> str:
    text = json.dumps(body) if not isinstance(body, str) else body
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def page_items(body: object, path: str) -> tuple[list[dict[str, Any]], int]:
    """The items of one page and the total the server gives, or UnexpectedAnswer."""
    if not isinstance(body, dict):
        raise UnexpectedAnswer(f"a page of a list should be a JSON object, not {_quote(body)}")
    keys = [k for k in _ITEMS_KEYS if isinstance(body.get(k), list)]
    if len(keys) != 1:
        raise UnexpectedAnswer(f"no list of items ({' or '.join(_ITEMS_KEYS)}) in {_quote(body)}")
    items, total = body[keys[0]], body.get(_ITEMS_KEYS[keys[0]])
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise UnexpectedAnswer(f"no whole-number '{_ITEMS_KEYS[keys[0]]}' in {_quote(body)}")
    wanted = {"id": int, **_FIELDS.get(path, {})}
    for item in items:
        bad = (
            not isinstance(item, dict)
            or not _is_int(item.get("id"))
            or any(not isinstance(item.get(k), t) for k, t in wanted.items() if k != "id")
        )
        if bad:
            fields = ", ".join(f"{k} ({t.__name__})" for k, t in wanted.items())
            raise UnexpectedAnswer(f"an item without {fields}: {_quote(item)}")
    return items, total


@dataclass
class _Listing:
    seen: set[int] = field(default_factory=set)


@dataclass
class PageGuard:
    """httpx response hook: checks each page of a paged GET (one with `page=`) as it comes.

    A listing is one path with one set of parameters besides `page`; its page 1 starts it
    again. Raises UnexpectedAnswer, which ends the SDK's paging.
    """

    listings: dict[tuple[str, tuple[tuple[str, str], ...]], _Listing] = field(default_factory=dict)

    def __call__(self, response: httpx.Response) -> None:
        request = response.request
        page_text = request.url.params.get("page")
        if request.method != "GET" or page_text is None or not response.is_success:
            return
        page = int(page_text) if page_text.isdigit() else 0
        response.read()
        try:
            body = response.json()
        except ValueError:
            raise UnexpectedAnswer(f"the answer is not JSON: {_quote(response.text)}") from None
        path = request.url.path
        items, total = page_items(body, path)
        params = tuple(sorted((k, v) for k, v in request.url.params.multi_items() if k != "page"))
        key = (path, params)
        if page <= 1 or key not in self.listings:
            self.listings[key] = _Listing()
        listing = self.listings[key]
        ids = {int(item["id"]) for item in items}
        if ids and ids <= listing.seen:
            raise UnexpectedAnswer(
                f"page {page} of {path} brought only items of the pages before it (the server "
                "does not page), so paging was stopped"
            )
        listing.seen |= ids
        if len(listing.seen) > total:
            raise UnexpectedAnswer(
                f"{path} says it has {total} item(s) but page {page} brings the number read to "
                f"{len(listing.seen)}, so paging was stopped (if the project changed while it "
                "was read, run the command again)"
            )
