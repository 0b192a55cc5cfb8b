"""Auditing an upload the route refused (`photo_refused`), in a transaction of its own.

A refusal is the answer whatever the database says: a failed write is logged, never raised.
Re-exported by serving.uploads, where the route finds it beside the filing of a photo.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from serving import audit
from serving.db.session import session_scope
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from serving.state import Services

logger = logging.getLogger(__name__)


def record_refusal(
    services: Services,
    *,
    actor: str,
    family_id: str,
    error: ShanyraqError,
    data: bytes | None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Audit an upload the route refused (`photo_refused`), committed on its own; whether it
    was. What was received is named by its sha256 and size (`data`: None when the refusal
    came before the bytes were read), never kept. A failed write is logged, not raised: the
    caller's refusal is the answer, never a 500 in its place."""
    recorded: dict[str, Any] = {
        "family_id": family_id, "code": error.code, "status": error.http_status,
    }  # fmt: skip
    if data is not None:
        recorded.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    recorded.update(details or {})
    try:
        with session_scope(services.sessions) as session:
            audit.append(
                session, services.signing_key, actor=actor, action="photo_refused",
                target=f"family:{family_id}", details=recorded,
            )  # fmt: skip
    except Exception:  # the refusal stands whatever the database says; the log keeps the note
        logger.exception("photo_refused by %r not audited: %s", actor, recorded)
        return False
    return True
