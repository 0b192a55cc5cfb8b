"""Fairness groups each decision by the family's record when it was made (migration 0010): a
family that moved, or whose head of household changed, keeps its earlier decisions in its
earlier groups. Decisions recorded before keep NULL, are grouped by the current record, and
are counted. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
from typing import Any

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from serving.db.models import Decision, Family
from serving.db.session import make_engine, session_scope
from serving.migrations import alembic_config, upgrade
from serving.reports import GROUPED_BY_NOTE, GROUPINGS
from tests.serving.decision_helpers import ACCEPT, MOVED, OVERRIDE, assess_and_decide, change_record
from tests.serving.helpers import PASSWORD, REGION
from tests.web.helpers import sign_in


def _fairness(service: Any) -> dict[str, Any]:
    answer = service.client.get("/reports/fairness", headers=service.headers("admin"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _recorded(service: Any) -> list[tuple[str, str | None, str | None]]:
    with session_scope(service.services.sessions) as session:
        rows = session.execute(select(Decision).order_by(Decision.id)).scalars()
        return [(d.family_id, d.settlement, d.head_gender) for d in rows]


def _figures(block: dict[str, Any]) -> dict[str, tuple[int, int, float | None]]:
    """Per group: decisions, families, override rate."""
    return {
        name: (row["decisions"], row["families"], row["override_rate"])
        for name, row in block["groups"].items()
    }


def test_every_grouping_is_a_column_of_decisions_and_of_families():
    for grouping in GROUPINGS:
        assert grouping in Decision.__table__.columns, grouping
        assert grouping in Family.__table__.columns, grouping


def test_a_family_that_moved_keeps_its_earlier_decision_in_its_earlier_group(service):
    # Before: both of F1's decisions counted as rural and male, the groups it is in now.
    service.create_family("F1")
    service.create_family("F2")
    assess_and_decide(service, "F1", OVERRIDE)
    assess_and_decide(service, "F2", ACCEPT)
    change_record(service, "F1", MOVED)
    assert _recorded(service) == [("F1", "urban", "female"), ("F2", "urban", "female")]

    before = _fairness(service)
    assert _figures(before["groupings"]["settlement"]) == {"urban": (2, 2, 0.5)}
    assert _figures(before["groupings"]["head_gender"]) == {"female": (2, 2, 0.5)}

    assess_and_decide(service, "F1", ACCEPT)  # decided again under its new record
    assert _recorded(service)[-1] == ("F1", "rural", "male")
    report = _fairness(service)
    assert (report["decisions"], report["families"], report["grouped_by_current_record"]) == (
        3, 2, 0,
    )  # fmt: skip
    assert GROUPED_BY_NOTE in report["note"]
    settlement = report["groupings"]["settlement"]
    # F1 counts as a family where its latest decision was made; its override stays urban.
    assert _figures(settlement) == {"rural": (1, 1, 0.0), "urban": (2, 1, 0.0)}
    assert _figures(report["groupings"]["head_gender"]) == {
        "female": (2, 1, 0.0), "male": (1, 1, 0.0),
    }  # fmt: skip
    assert _figures(report["groupings"]["region"]) == {REGION: (3, 2, 0.0)}
    for block in report["groupings"].values():
        assert block["grouped_by_current_record"] == 0


def test_a_group_left_by_its_only_family_shows_its_decisions_and_no_rates(service):
    service.create_family("F1")
    assess_and_decide(service, "F1", OVERRIDE)
    change_record(service, "F1", MOVED)
    assess_and_decide(service, "F1", ACCEPT)

    urban = _fairness(service)["groupings"]["settlement"]["groups"]["urban"]
    assert urban == {
        "decisions": 1, "families": 0, "too_small": True, "override_rate": None,
        "agreement": None, "mean_decided_level": None,
    }  # fmt: skip
    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "admin", PASSWORD).status_code == 303
    page = browser.get("/ui/oversight")
    assert page.status_code == 200, page.text
    assert "cap-fairness-settlement" in html.unescape(page.text)


def test_decisions_from_before_0010_are_grouped_by_the_current_record_and_counted(
    service, database_url
):
    service.create_family("F1")
    service.create_family("F2")
    assess_and_decide(service, "F1", OVERRIDE)
    assess_and_decide(service, "F2", ACCEPT)

    # Back to 0009 (the columns go) and up again: the decisions have no recorded groups.
    command.downgrade(alembic_config(database_url), "0009")
    engine = make_engine(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("decisions")}
    assert not {"settlement", "head_gender"} & columns
    engine.dispose()
    upgrade(database_url)
    assert _recorded(service) == [("F1", None, None), ("F2", None, None)]

    change_record(service, "F1", MOVED)
    report = _fairness(service)
    assert report["grouped_by_current_record"] == 2
    counted = {g: b["grouped_by_current_record"] for g, b in report["groupings"].items()}
    assert counted == {"region": 0, "settlement": 2, "head_gender": 2}
    # As before 0010: F1's decision counts where F1 is now.
    assert _figures(report["groupings"]["settlement"]) == {
        "rural": (1, 1, 1.0), "urban": (1, 1, 0.0),
    }  # fmt: skip

    assess_and_decide(service, "F1", ACCEPT)  # a new decision records its groups
    report = _fairness(service)
    assert report["grouped_by_current_record"] == 2
    assert _figures(report["groupings"]["settlement"]) == {
        "rural": (2, 1, 0.0), "urban": (1, 1, 0.0),
    }  # fmt: skip
