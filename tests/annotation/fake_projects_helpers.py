"""A fake Label Studio with the project list and create and the local-files storages, whose
creates can fail, drop the connection or hang; and `init_project` run against it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from annotation.client import connect
from annotation.project import ProjectInfo, init_project
from shanyraq.taxonomy import Taxonomy
from tests.annotation.label_studio_helpers import LEGACY, FakeLabelStudio

TITLE = "Shanyraq photos"
PROJECTS, STORAGES = "/api/projects/", "/api/storages/localfiles/"


class _Dropped(Exception):
    """Raised by the fake to close the connection without answering (a connection reset)."""


@dataclass
class FakeProjects(FakeLabelStudio):
    """FakeLabelStudio plus the project list and create, and the local-files storages.

    `failures[path]` holds, in order, how the next creates at that path fail: (status,
    stored), `stored` saying whether it was saved before the error was answered; status 0
    closes the connection without an answer."""

    projects: list[dict[str, Any]] = field(default_factory=list)
    storages: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    creates: dict[str, int] = field(default_factory=dict)
    create_hang: threading.Event | None = None  # set: the next create at `hang_at` waits
    hang_at: str = PROJECTS
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, target: str, auth: str, body: bytes) -> tuple[int, str]:
        split = urlsplit(target)
        path, query = split.path.rstrip("/") + "/", parse_qs(split.query)
        if not self.authorised(auth):
            return super().answer(method, target, auth, body)
        if path in (PROJECTS, STORAGES) and method == "POST":
            return self._create(path, json.loads(body))
        if path == PROJECTS and method == "GET":
            title = query.get("title", [None])[0]
            page = int(query.get("page", ["1"])[0])
            found = [p for p in self.projects if title is None or p["title"] == title]
            if page > 1:
                return 404, '{"detail": "Invalid page."}'
            return 200, json.dumps({"count": len(found), "results": found})
        if path == STORAGES and method == "GET":
            project = int(query["project"][0])
            return 200, json.dumps([s for s in self.storages if s["project"] == project])
        return super().answer(method, target, auth, body)

    def _create(self, path: str, sent: dict[str, Any]) -> tuple[int, str]:
        with self.lock:
            self.creates[path] = self.creates.get(path, 0) + 1
            queue = self.failures.get(path) or []
            status, stored = queue.pop(0) if queue else (201, True)
            kept = self.projects if path == PROJECTS else self.storages
            item = {**sent, "id": len(kept) + 1}
            if stored:
                kept.append(item)
        if self.create_hang is not None and path == self.hang_at:
            hang, self.create_hang = self.create_hang, None
            hang.wait(10)  # the client's read times out first
        if status == 0:
            raise _Dropped
        if status >= 300:
            return status, '{"detail": "A server error occurred."}'
        return status, json.dumps(item)


def init_on_fake(
    fake: FakeProjects, roots: tuple[Path, Path], taxonomy: Taxonomy, *, timeout_s: float = 5
) -> ProjectInfo:
    photos_dir, document_root = roots
    return init_project(
        connect(fake.url, LEGACY, timeout_s=timeout_s),
        title=TITLE,
        taxonomy=taxonomy,
        photos_dir=photos_dir,
        document_root=document_root,
    )
