"""The audit chain: every action logged; edits, deletions (middle or end) are detected."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from serving import audit
from serving.audit_cli import app as audit_app
from serving.db.models import AuditEntry
from serving.db.session import session_scope
from serving.users_cli import app as users_app
from tests.serving.audit_helpers import drop_audit_guards
from tests.serving.helpers import PASSWORD, jpeg


def _fill(service) -> None:
    service.client.post("/auth/token", data={"username": "inspector", "password": PASSWORD})
    service.create_family("F1")
    service.upload("F1", jpeg(1))
    service.client.get("/families/F1", headers=service.headers("commission"))
    service.client.post("/families/F1/assessments", headers=service.headers("inspector"))


def _verify(service) -> audit.VerifyResult:
    with session_scope(service.services.sessions) as session:
        return audit.verify(session, service.services.signing_key)


def test_actions_are_logged_and_chain_verifies(service):
    _fill(service)
    with session_scope(service.services.sessions) as session:
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        actions = [e.action for e in entries]
        upload = next(e for e in entries if e.action == "photo_uploaded")
        assert len(upload.details["sha256"]) == 64 and upload.actor == "inspector"
    for action in (
        "login",
        "family_created",
        "photo_uploaded",
        "family_viewed",
        "assessment_created",
    ):
        assert action in actions
    result = _verify(service)
    assert result.ok and result.entries == len(actions)
    api = service.client.get("/audit/verify", headers=service.headers("admin_national")).json()
    assert api["ok"] and api["entries"] == len(actions)


def test_edited_entry_detected(service):
    _fill(service)
    with session_scope(service.services.sessions) as session:
        drop_audit_guards(session)  # as someone with full database access would
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone_else"))
    result = _verify(service)
    assert not result.ok and any("entry 2: content was changed" in p for p in result.problems)


def test_deleted_middle_and_tail_entries_detected(service):
    _fill(service)
    with session_scope(service.services.sessions) as session:
        drop_audit_guards(session)
        last = (
            session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()))
            .scalars()
            .first()
        )
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    assert any("missing" in p for p in _verify(service).problems)
    with session_scope(service.services.sessions) as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 3))
    problems = _verify(service).problems
    assert any(f"head records entry {last}" in p for p in problems), problems


def test_rehashed_forgery_without_key_detected(service):
    _fill(service)
    with session_scope(service.services.sessions) as session:
        drop_audit_guards(session)
        entry = session.get(AuditEntry, 2)
        entry.actor = "forger"
        entry.hash = audit.link_hash(
            b"a guessed key", prev_hash=entry.prev_hash, seq=entry.seq, at=entry.at,
            actor=entry.actor, action=entry.action, target=entry.target, details=entry.details,
        )  # fmt: skip
    assert not _verify(service).ok


def test_cli_users_add_and_audit_verify(tmp_path, database_url, monkeypatch):
    config = tmp_path / "serving.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: {database_url}\n"
        "secret_key: cli-test-key-0123456789abcdef-0123456789\n"
    )
    runner = CliRunner()
    added = runner.invoke(
        users_app, ["add", "amina", "--role", "commission", "--region", "shymkent",
                    "--password", PASSWORD, "--config", str(config)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "created commission amina" in added.output
    again = runner.invoke(
        users_app,
        ["add", "amina", "--role", "admin", "--password", PASSWORD, "--config", str(config)],
    )
    assert again.exit_code != 0 and "exists already" in str(again.exception)
    no_region = runner.invoke(
        users_app,
        ["add", "bob", "--role", "inspector", "--password", PASSWORD, "--config", str(config)],
    )
    assert no_region.exit_code != 0 and "needs a region" in str(no_region.exception)
    ok = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert ok.exit_code == 0 and "intact: 1 entries" in ok.output
    from serving.core.config import load_serving_settings
    from serving.db.session import make_engine

    engine = make_engine(load_serving_settings(config).resolved_database_url)
    with engine.begin() as connection:
        drop_audit_guards(connection)
        connection.execute(update(AuditEntry).values(target="user:mallory"))
    engine.dispose()
    broken = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert broken.exit_code == 1 and "content was changed" in broken.output
