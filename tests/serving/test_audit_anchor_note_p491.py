"""A verify that could not check the log against the anchor file (missing or empty, as
after a restore) passes, and says so wherever its result is shown: the CLI, the API and the
audit page. And an anchor file of another database is named as a possible cause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from typer.testing import CliRunner

from serving import audit
from serving.audit_anchor import anchor_note, unchecked_anchor
from serving.db.models import AuditEntry
from serving.db.session import make_engine, session_scope
from serving.migrations import upgrade
from tests.serving.audit_helpers import KEY, append_entries, audit_sessions
from tests.serving.helpers import PASSWORD, Service, started
from tests.web.helpers import sign_in

NOTE = "so the log was not checked against it"


@pytest.fixture
def service(tmp_path: Path) -> Any:
    with started(tmp_path) as running:  # SQLite
        running.create_family("F1")  # audited, so the log has entries and the anchor lines
        assert running.services.settings.resolved_audit_anchor_file.stat().st_size > 0
        yield running


def _anchor(service: Service) -> Path:
    return Path(service.services.settings.resolved_audit_anchor_file)


def _api_verify(service: Service) -> dict[str, Any]:
    answer = service.client.get("/audit/verify", headers=service.headers("admin_national"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_api_notes_a_missing_anchor_and_passes(service):
    anchor = _anchor(service)
    with_anchor = _api_verify(service)
    assert with_anchor["ok"] and with_anchor["notes"] == []
    anchor.unlink()  # as a restore does (README: moved aside and kept)
    without = _api_verify(service)
    assert without["ok"] and without["problems"] == [] and len(without["notes"]) == 1
    note = without["notes"][0]
    assert "anchor file is missing" in note and NOTE in note and "restore" in note
    assert str(anchor) not in note  # the service's paths stay on the server
    # The check's own entry started a new anchor: its checks run again, with no note.
    assert anchor.exists()
    again = _api_verify(service)
    assert again["ok"] and again["notes"] == []
    # Each check's own audit entry records whether the anchor's checks ran.
    with session_scope(service.services.sessions) as session:
        checks = session.execute(
            select(AuditEntry).where(AuditEntry.action == "audit_verified").order_by(AuditEntry.seq)
        ).scalars()
        assert [entry.details["anchor_checked"] for entry in checks] == [True, False, True]


def test_the_api_notes_an_empty_anchor(service):
    _anchor(service).write_bytes(b"")
    answer = _api_verify(service)
    assert answer["ok"] and len(answer["notes"]) == 1
    assert "anchor file is empty" in answer["notes"][0]


def test_the_audit_page_notes_a_missing_anchor(service):
    from fastapi.testclient import TestClient

    browser = TestClient(service.app, base_url="http://127.0.0.1")
    assert sign_in(browser, "admin_national", PASSWORD).status_code == 303
    _anchor(service).unlink()
    page = browser.get("/ui/audit?verify=true")
    assert page.status_code == 200
    assert "The chain is intact" in page.text and 'id="audit-anchor-note"' in page.text
    assert "The audit anchor file is missing or empty" in page.text
    # The page view was audited and anchored: the next check ran the anchor's checks.
    again = browser.get("/ui/audit?verify=true")
    assert "The chain is intact" in again.text and "audit-anchor-note" not in again.text


def _config(tmp_path: Path, anchor: Path) -> Path:
    config = tmp_path / "serving.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: sqlite:///{tmp_path / 'cli.db'}\n"
        f"secret_key: p491-test-key-0123456789abcdef-0123456789\naudit_anchor_file: {anchor}\n"
    )
    return config


def test_the_cli_notes_a_missing_anchor_and_exits_0(tmp_path):
    from serving.audit_cli import app as audit_app
    from serving.users_cli import app as users_app

    anchor = tmp_path / "elsewhere" / "anchor.log"
    config = _config(tmp_path, anchor)
    runner = CliRunner()
    added = runner.invoke(
        users_app, ["add", "amina", "--role", "admin", "--password", PASSWORD,
                    "--config", str(config)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    intact = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert intact.exit_code == 0, intact.output
    assert "audit log intact: 1 entries" in intact.output and "note:" not in intact.output

    anchor.unlink()
    noted = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert noted.exit_code == 0, noted.output
    assert "audit log intact: 1 entries" in noted.output
    assert f"note: the audit anchor file is missing, {NOTE}" in noted.output
    assert f"(anchor file: {anchor})" in noted.output
    assert "README" in noted.output and "next append" in noted.output


def test_a_broken_log_without_its_anchor_is_broken_and_noted(tmp_path):
    from serving.audit_cli import app as audit_app
    from serving.users_cli import app as users_app
    from tests.serving.audit_helpers import drop_audit_guards

    anchor = tmp_path / "anchor.log"
    config = _config(tmp_path, anchor)
    runner = CliRunner()
    added = runner.invoke(
        users_app, ["add", "bolat", "--role", "admin", "--password", PASSWORD,
                    "--config", str(config)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    anchor.unlink()
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.begin() as connection:
        drop_audit_guards(connection)
        connection.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    engine.dispose()
    broken = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert broken.exit_code == 1
    assert (
        "entry 1: content was changed" in broken.output and f"is missing, {NOTE}" in broken.output
    )


def test_no_note_for_an_empty_log_or_a_file_with_lines(tmp_path):
    anchor = tmp_path / "anchor.log"
    assert unchecked_anchor(None) is None  # no file set: nothing to say
    assert unchecked_anchor(anchor) == "missing"
    assert anchor_note("missing", entries=0) is None  # nothing in the log to check
    anchor.write_text("1 " + "0" * 64 + "\n")
    assert unchecked_anchor(anchor) is None


def _log(url: str, anchor: Path | None, **details: object) -> Engine:
    upgrade(url)
    engine = make_engine(url)
    append_entries(audit_sessions(engine, anchor), 3, **details)
    return engine


def test_an_anchor_of_another_database_is_named_as_a_cause(tmp_path):
    anchor = tmp_path / "theirs_anchor.log"
    _log(f"sqlite:///{tmp_path / 'theirs.db'}", anchor, site="theirs").dispose()
    ours = _log(f"sqlite:///{tmp_path / 'ours.db'}", None, site="ours")
    try:
        with session_scope(audit_sessions(ours)) as session:
            problems = audit.verify(session, KEY, anchor=anchor).problems
    finally:
        ours.dispose()
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        "3 anchored entries differ from the log (none matches: the anchor file may be another "
        "database's (each database needs its own audit_anchor_file)"
    )
