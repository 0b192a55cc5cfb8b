"""latest_of gives each family's latest assessment in the order it was asked for.

The query behind it has no ORDER BY: the database returns the rows as it finds them, which
differs between SQLite and PostgreSQL and, on one database, once rows are deleted and
written again. The promotion plan lists its stale families, and reassessment its families,
in the order latest_of returns them.
"""

from __future__ import annotations

from itertools import permutations

from serving.db.session import session_scope
from serving.latest_assessments import latest_of


def test_latest_of_follows_the_order_of_the_families_asked_for(service):
    for family_id in ("F1", "F2", "F3", "F4"):
        service.create_family(family_id)
    for family_id in ("F3", "F2", "F1", "F3"):  # rows written in another order than asked
        service.assess(family_id)
    with session_scope(service.services.sessions) as session:
        for asked in permutations(["F1", "F2", "F3", "F4"]):
            found = latest_of(session, list(asked))
            assert list(found) == [f for f in asked if f != "F4"]  # F4: never assessed
            assert [found[f].version for f in ("F1", "F2", "F3")] == [1, 1, 2]
            assert all(row.family_id == family_id for family_id, row in found.items())
