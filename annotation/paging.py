"""A guard on the pages of Label Studio's lists, checked as each page arrives.

The SDK pages a list (projects, tasks) until a page comes back empty or answers 404, and
takes every answer on trust: an answer of another shape (a proxy's, another service's,
another API version's) can make it page forever (`{"results": "nope"}` looks like a page of
four items), fail deep inside the SDK, or read as no items at all (a tasks page holding
`results`, which the SDK does not read there). Every answer to a paged GET goes through
`PageGuard` first (an httpx response hook). It is refused (UnexpectedAnswer) unless it is a
JSON object holding the list of items the SDK reads for that path, each an object with a
whole-number id (and the fields Shanyraq reads), and a whole-number total; tasks of a
project other than the one asked for are refused too (a server ignoring the filter). Paging
is bounded: a page that brings nothing new (a server that ignores the page number, or a
redirect that drops it: the page the SDK asked for counts), or items beyond the total the
server itself gives, stops it. An item read twice (on two pages, or twice on one) is
ListingIncomplete, never handed on twice; so is a list that shrinks between pages (a task
deleted while it is read moves the next one onto a page already read), or ends (an empty
page, the first one too, or a 404) before the total it gave. What one pass cannot see: a
task deleted and another added between two pages leave the total as it was, and the task
moved onto the page already read is missed unseen.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

# The list and its total in a page of each kind (the ones the SDK reads for that path), and
# what Shanyraq reads of each item; a path of no kind here may hold either list.
_ITEMS_KEYS = {"results": "count", "tasks": "total"}
_KINDS: dict[str, tuple[str, dict[str, type]]] = {
    "/api/projects/": ("results", {"title": str}),
    "/api/tasks/": ("tasks", {"data": dict}),
}
_ORIGIN = "shanyraq.paged_url"  # request extension: the URL the SDK asked for, kept on redirects
_SHOWN = 80  # characters of an unexpected answer quoted in the message
_IDS_SHOWN = 5  # ids named in a message


class UnexpectedAnswer(Exception):
    """An answer the SDK cannot be trusted with; `api_errors` names the server and action."""


class ListingIncomplete(UnexpectedAnswer):
    """A list that changed while it was read, or ended early: some items may be missing.
    `fact` is what was seen, without the advice, for a message that gives its own."""

    def __init__(self, message: str, fact: str | None = None) -> None:
        super().__init__(message)
        self.fact = fact or message


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _quote(body: object) -> str:
    text = json.dumps(body) if not isinstance(body, str) else body
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _kind(path: str) -> tuple[list[str], dict[str, type]]:
    """The list keys a page at `path` may hold, and the fields each item must have. By
    suffix: behind a reverse proxy the path has a prefix (/ls/api/tasks/)."""
    for suffix, (key, fields) in _KINDS.items():
        if path.endswith(suffix):
            return [key], fields
    return list(_ITEMS_KEYS), {}


def page_items(body: object, path: str) -> tuple[list[dict[str, Any]], int]:
    """The items of one page and the total the server gives, or UnexpectedAnswer."""
    if not isinstance(body, dict):
        raise UnexpectedAnswer(f"a page of a list should be a JSON object, not {_quote(body)}")
    allowed, fields = _kind(path)
    keys = [k for k in _ITEMS_KEYS if isinstance(body.get(k), list)]
    if len(keys) != 1 or keys[0] not in allowed:
        raise UnexpectedAnswer(f"no list of items ({' or '.join(allowed)}) in {_quote(body)}")
    items, total = body[keys[0]], body.get(_ITEMS_KEYS[keys[0]])
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise UnexpectedAnswer(f"no whole-number '{_ITEMS_KEYS[keys[0]]}' in {_quote(body)}")
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


def _check_project(items: list[dict[str, Any]], project: str | None, path: str) -> None:
    """Refuse an item of another project than the one the list was asked for."""
    if project is None or not project.isdecimal():
        return
    for item in items:
        if _is_int(item.get("project")) and item["project"] != int(project):
            raise UnexpectedAnswer(
                f"{path} for project {project} listed task {item['id']} of project "
                f"{item['project']} (the server ignored the project asked for)"
            )


@dataclass
class _Listing:
    seen: set[int] = field(default_factory=set)
    total: int | None = None


@dataclass
class PageGuard:
    """httpx response hook: checks each page of a paged GET (one with `page=`) as it comes.

    A listing is one path with one set of parameters besides `page`, as the SDK asked for
    them (a redirect's target may differ); its page 1 starts it again. Raises
    UnexpectedAnswer, which ends the SDK's paging.
    """

    listings: dict[tuple[str, tuple[tuple[str, str], ...]], _Listing] = field(default_factory=dict)

    def __call__(self, response: httpx.Response) -> None:
        request = response.request
        # httpx copies a request's extensions onto the one it sends for a redirect, after
        # this hook has seen the redirect: the URL the SDK asked for is the first one seen.
        url: httpx.URL = request.extensions.setdefault(_ORIGIN, request.url)
        page_text = url.params.get("page")
        if request.method != "GET" or page_text is None:
            return
        page = int(page_text) if page_text.isdecimal() else 0
        path = url.path
        params = tuple(sorted((k, v) for k, v in url.params.multi_items() if k != "page"))
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
        _check_project(items, url.params.get("project"), path)
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
        if not items:
            self._check_complete(listing, path, page)
        ids = [int(item["id"]) for item in items]
        if ids and set(ids) <= listing.seen:
            raise UnexpectedAnswer(
                f"page {page} of {path} brought only items of the pages before it (the server "
                "does not page), so paging was stopped"
            )
        again = sorted(i for i, n in Counter(ids).items() if n > 1 or i in listing.seen)
        if again:
            shown = ", ".join(map(str, again[:_IDS_SHOWN])) + (", ..." * (len(again) > _IDS_SHOWN))
            raise ListingIncomplete(
                f"page {page} of {path} brings item(s) {shown} again, so the list changed while "
                "it was read (or the server repeats items) and items may have been skipped; run "
                "the command again"
            )
        listing.seen.update(ids)
        if len(listing.seen) > total:
            raise UnexpectedAnswer(
                f"{path} says it has {total} item(s) but page {page} brings the number read to "
                f"{len(listing.seen)}, so paging was stopped (if the project changed while it "
                "was read, run the command again)"
            )

    @staticmethod
    def _check_complete(listing: _Listing, path: str, page: int) -> None:
        if listing.total is not None and len(listing.seen) < listing.total:
            fact = (
                f"{path} ended at page {page} after {len(listing.seen)} of the "
                f"{listing.total} item(s) it says it has"
            )
            raise ListingIncomplete(
                f"{fact}, so the list is incomplete (it changed while it was read, or the server "
                "failed); run the command again",
                fact,
            )
