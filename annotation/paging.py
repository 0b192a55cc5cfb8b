"""A guard on the pages of Label Studio's lists, checked as each page arrives.

The SDK pages a list (projects, tasks) until a page comes back empty or answers 404, and
takes every answer on trust: an answer of another shape (a proxy's, another service's,
another API version's) can make it page forever (`{"results": "nope"}` looks like a page of
four items) or fail deep inside the SDK. Every answer to a paged GET goes through
`PageGuard` first (an httpx response hook). It is refused (UnexpectedAnswer) unless it is a
JSON object holding a list of items, each an object with a whole-number id (and the fields
Shanyraq reads), and a whole-number total. Paging is bounded: a page that brings nothing
new (a server that ignores the page number), or items beyond the total the server itself
gives, stops it. A list that shrinks between pages (a task deleted while it is read moves
the next one onto a page already read), or ends (an empty page, a 404) before the total it
gave, is ListingIncomplete: a short list is never taken for the whole.
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


class ListingIncomplete(UnexpectedAnswer):
    """A list that changed while it was read, or ended early: some items may be missing."""


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
    # By suffix: behind a reverse proxy the path has a prefix (/ls/api/tasks/).
    fields = next((f for suffix, f in _FIELDS.items() if path.endswith(suffix)), {})
    wanted = {"id": int, **fields}
    for item in items:
        bad = (
            not isinstance(item, dict)
            or not _is_int(item.get("id"))
            or any(not isinstance(item.get(k), t) for k, t in wanted.items() if k != "id")
        )
        if bad:
            named = ", ".join(f"{k} ({t.__name__})" for k, t in wanted.items())
            raise UnexpectedAnswer(f"an item without {named}: {_quote(item)}")
    return items, total


@dataclass
class _Listing:
    seen: set[int] = field(default_factory=set)
    total: int | None = None


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
        if request.method != "GET" or page_text is None:
            return
        page = int(page_text) if page_text.isdigit() else 0
        path = request.url.path
        params = tuple(sorted((k, v) for k, v in request.url.params.multi_items() if k != "page"))
        key = (path, params)
        if not response.is_success:
            # The SDK takes a 404 for the end of a list: it is, only once every item is read.
            if response.status_code == 404 and page > 1 and key in self.listings:
                self._check_complete(self.listings[key], path, page)
            return
        response.read()
        try:
            body = response.json()
        except ValueError:
            raise UnexpectedAnswer(f"the answer is not JSON: {_quote(response.text)}") from None
        items, total = page_items(body, path)
        if page <= 1 or key not in self.listings:
            self.listings[key] = _Listing()
        listing = self.listings[key]
        if listing.total is not None and total < listing.total:
            raise ListingIncomplete(
                f"{path} went from {listing.total} to {total} item(s) between pages, so the "
                "list changed while it was read and items may have been skipped; run the command "
                "again once nobody is deleting tasks"
            )
        listing.total = total
        if not items and page > 1:
            self._check_complete(listing, path, page)
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

    @staticmethod
    def _check_complete(listing: _Listing, path: str, page: int) -> None:
        if listing.total is not None and len(listing.seen) < listing.total:
            raise ListingIncomplete(
                f"{path} ended at page {page} after {len(listing.seen)} of the "
                f"{listing.total} item(s) it says it has, so the list is incomplete (it changed "
                "while it was read, or the server failed); run the command again"
            )
