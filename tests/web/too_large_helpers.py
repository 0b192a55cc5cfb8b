"""Helpers of the tests of requests over the body limit: the limit and page texts they use, the
audit entries of refused requests, and a page form post declaring one byte over a limit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from serving.db.models import AuditEntry
from serving.web.i18n import load_catalogues
from tests.serving.helpers import Service
from tests.web.helpers import csrf_from

CATALOGUES = load_catalogues()


LIMIT = 1_234_567  # max_body_bytes of these tests: 1.2 MB, rounded down as limits are shown


MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}


def too_large_entries(service: Service) -> list[AuditEntry]:
    with service.services.sessions() as session:
        statement = select(AuditEntry).where(AuditEntry.action == "request_too_large")
        return list(session.execute(statement.order_by(AuditEntry.seq)).scalars())


def page_post_over(client: Any, limit: int) -> Any:
    """A form post to the upload page declaring one byte over `limit` (refused unread)."""
    token = csrf_from(client.get("/ui/upload").text)
    body = f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n--b--\r\n'
    headers = {**MULTIPART, "Content-Length": str(limit + 1)}
    return client.post("/ui/upload", content=body.encode(), headers=headers)
