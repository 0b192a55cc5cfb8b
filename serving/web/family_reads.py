"""What the family page reads besides the assessment, in a read-only session of its own.

Kept apart from serving.web.family_view so that no read of it holds a transaction while the
page verifies photos (verifying reads stored photos, never while holding the database).
"""

from __future__ import annotations

from serving.db.models import Decision
from serving.db.session import session_scope
from serving.decisions import decisions_of, latest_decision_id
from serving.state import Services


def decisions_read(
    services: Services, family_id: str, *, shown: bool
) -> tuple[list[tuple[Decision, str]], int]:
    """The family's decisions, newest first with who decided ([] unless `shown`: the viewer's
    role may read them), and its latest decision's id, shown or not (0: none)."""
    with session_scope(services.readers) as reading:
        decisions = decisions_of(reading, family_id) if shown else []
        return decisions, latest_decision_id(reading, family_id)
