"""The audit entry of a decision names the groups the fairness report counts it in: the
region, settlement and head-of-family gender recorded on the decision (migration 0010), so
an auditor reading the log sees where each decision was counted; the log still verifies. On
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from serving.audit_cli import app as audit_app
from serving.db.models import AuditEntry, Decision
from serving.db.session import session_scope
from tests.serving.decision_helpers import ACCEPT, MOVED, OVERRIDE, assess_and_decide, change_record
from tests.serving.helpers import REGION, serving_yaml

# What the entry held before the groups were added: none of it may change.
EARLIER_FIELDS = {
    "assessment_id", "family_id", "kind", "model_level", "decided_level", "reason_code",
    "model_versions", "input_hash",
}  # fmt: skip


def _decision_entries(service: Any) -> list[tuple[str, dict[str, Any]]]:
    with session_scope(service.services.sessions) as session:
        rows = session.execute(
            select(AuditEntry.target, AuditEntry.details)
            .where(AuditEntry.action == "decision_recorded")
            .order_by(AuditEntry.seq)
        ).all()
        return [(target, dict(details)) for target, details in rows]


def _decisions(service: Any) -> dict[str, Decision]:
    with session_scope(service.services.sessions) as session:
        rows = session.execute(select(Decision).order_by(Decision.id)).scalars().all()
        session.expunge_all()
        return {f"decision:{d.id}": d for d in rows}


def test_the_decision_entry_names_the_groups_it_is_counted_in(service, tmp_path, database_url):
    service.create_family("F1")  # urban, female
    assess_and_decide(service, "F1", OVERRIDE)
    change_record(service, "F1", MOVED)  # now rural, male
    assess_and_decide(service, "F1", ACCEPT)

    entries = _decision_entries(service)
    decisions = _decisions(service)
    assert [t for t, _ in entries] == list(decisions)
    groups = [(d["region"], d["settlement"], d["head_gender"]) for _, d in entries]
    assert groups == [(REGION, "urban", "female"), (REGION, "rural", "male")]
    for target, details in entries:
        decision = decisions[target]
        # As stored on the decision, which is what the fairness report counts.
        assert (details["region"], details["settlement"], details["head_gender"]) == (
            decision.region, decision.settlement, decision.head_gender,
        )  # fmt: skip
        # reason_sha256 pins the reason's words (tests/serving/test_decisions_audit_review21.py),
        # seen_decision_id what the reports count by (tests/serving/test_decision_seen_review22.py).
        later = {"region", "settlement", "head_gender", "reason_sha256", "seen_decision_id"}
        assert set(details) == EARLIER_FIELDS | later
        assert details["seen_decision_id"] is decision.seen_decision_id is None  # none sent
        assert details["family_id"] == decision.family_id == "F1"
        assert details["assessment_id"] == decision.assessment_id
        assert (details["kind"], details["decided_level"]) == (
            decision.kind, decision.decided_level,
        )  # fmt: skip
        assert details["reason_code"] == decision.reason_code
    assert [d["kind"] for _, d in entries] == ["override", "accept"]

    config = serving_yaml(tmp_path / "serving.yaml", tmp_path, database_url, fusion_dir="")
    verified = CliRunner().invoke(audit_app, ["verify", "--config", str(config)])
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output
