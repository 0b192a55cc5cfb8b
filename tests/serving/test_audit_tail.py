"""The audit log's end: database guards, the head's MAC and the anchor file outside the database.

An attacker with full database access drops the append-only triggers first
(`drop_audit_guards`), then cuts entries from the end and rolls the head back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Executable, delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from serving import audit
from serving.db.models import AuditEntry, AuditHead
from serving.db.session import session_scope
from tests.serving.audit_helpers import drop_audit_guards, log_before_0003
from tests.serving.helpers import audit_entries, jpeg


def _fill(service, n_views: int = 4) -> None:
    service.create_family("F1")
    service.upload("F1", jpeg(1))
    for _ in range(n_views):
        service.client.get("/families/F1", headers=service.headers("commission"))


def _verify(service, **kw) -> audit.VerifyResult:
    with session_scope(service.services.sessions) as session:
        return audit.verify(session, service.services.signing_key, **kw)


def _anchor(service) -> Path:
    return service.services.settings.resolved_audit_anchor_file


def _head(session: Session) -> AuditHead:
    return session.execute(select(AuditHead)).scalar_one()


def _cut_tail(service, n: int, *, key: bytes | None = None) -> int:
    """Delete the last `n` entries and roll the head back to the new last one; MACed with
    `key` when the attacker has it, else the head keeps its old MAC. Returns the new end."""
    with session_scope(service.services.sessions) as session:
        drop_audit_guards(session)
        kept = (
            session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().all()[n]
        )
        session.execute(delete(AuditEntry).where(AuditEntry.seq > kept.seq))
        head = _head(session)
        head.seq, head.hash = kept.seq, kept.hash
        if key is not None:
            head.mac = audit.head_mac(key, seq=kept.seq, hash=kept.hash)
        return kept.seq


def test_appends_seal_the_head_and_anchor_it_outside_the_database(service):
    assert not _anchor(service).exists()  # no anchor before the first append is fine
    _fill(service)
    key = service.services.signing_key
    with session_scope(service.services.sessions) as session:
        head = _head(session)
        assert head.mac == audit.head_mac(key, seq=head.seq, hash=head.hash)
        seq, digest = head.seq, head.hash
    lines = _anchor(service).read_text().splitlines()
    assert lines[-1] == f"{seq} {digest}"
    entries = {e.seq: e.hash for e in audit_entries(service)}
    assert all(entries[int(s)] == h for s, h in (line.split() for line in lines))
    result = _verify(service)
    assert result.ok and result.entries == seq, result.problems


def test_the_database_refuses_update_and_delete_of_audit_entries(service):
    _fill(service)
    refused: list[Executable] = [
        update(AuditEntry).where(AuditEntry.seq == 1).values(actor="mallory"),
        delete(AuditEntry).where(AuditEntry.seq == 1),
        delete(AuditEntry),
    ]
    if service.services.db_engine.dialect.name == "postgresql":
        refused.append(text("TRUNCATE audit_log"))
    for statement in refused:
        with (
            pytest.raises(DBAPIError, match="append-only"),
            session_scope(service.services.sessions) as session,
        ):
            session.execute(statement)
    assert _verify(service).ok
    service.client.get("/families/F1", headers=service.headers("commission"))  # still appends
    assert _verify(service).ok


def test_cut_tail_with_the_head_rolled_back_is_detected(service):
    # The reviewer's attack: no key needed before the head carried a MAC.
    _fill(service)
    last = audit_entries(service)[-1].seq
    end = _cut_tail(service, 2)
    result = _verify(service)
    assert not result.ok and result.entries == end
    assert (
        f"the log ends at seq {end} but the anchor saw seq {last}: entries were removed from "
        "its end" in result.problems
    ), result.problems
    assert any("has a MAC that does not match" in p for p in result.problems)


def test_head_rolled_back_with_the_key_is_caught_by_the_anchor_alone(service):
    _fill(service)
    last = audit_entries(service)[-1].seq
    end = _cut_tail(service, 3, key=service.services.signing_key)
    problems = _verify(service).problems
    assert problems == [
        f"the log ends at seq {end} but the anchor saw seq {last}: entries were removed from "
        "its end"
    ]
    # What stays undetectable (serving/audit.py says so): the same, with the anchor gone too.
    _anchor(service).unlink()
    assert _verify(service).ok


def test_a_saved_head_row_put_back_is_caught_by_the_anchor(service):
    _fill(service, n_views=1)
    with session_scope(service.services.sessions) as session:
        head = _head(session)
        saved = (head.seq, head.hash, head.mac)
    for _ in range(3):
        assert service.client.get("/families/F1", headers=service.headers("commission")).is_success
    last = audit_entries(service)[-1].seq
    with session_scope(service.services.sessions) as session:
        drop_audit_guards(session)
        session.execute(delete(AuditEntry).where(AuditEntry.seq > saved[0]))
        head = _head(session)
        head.seq, head.hash, head.mac = saved
    problems = _verify(service).problems
    assert problems == [
        f"the log ends at seq {saved[0]} but the anchor saw seq {last}: entries were "
        "removed from its end"
    ]


def test_a_head_edited_or_unsealed_without_the_key_is_detected(service):
    _fill(service)
    with session_scope(service.services.sessions) as session:
        _head(session).mac = "0" * 64
    assert any("has a MAC that does not match" in p for p in _verify(service).problems)
    with session_scope(service.services.sessions) as session:
        _head(session).mac = None
    problems = _verify(service).problems
    assert len(problems) == 1 and "carries no MAC" in problems[0], problems
    service.client.get("/families/F1", headers=service.headers("commission"))  # seals it again
    (problem,) = _verify(service).problems  # after recording what it was (p502)
    assert "carried no MAC when entry" in problem and "its MAC was removed" in problem


def test_a_chain_rewritten_with_the_key_differs_from_the_anchor(service):
    # Someone with the key and the database, not the anchor: a consistent chain and head.
    _fill(service)
    key = service.services.signing_key
    with session_scope(service.services.sessions) as session:
        drop_audit_guards(session)
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        prev = entries[1].hash
        for entry in entries[2:]:
            entry.actor = "forger" if entry.seq == 3 else entry.actor
            entry.prev_hash = prev
            entry.hash = prev = audit.link_hash(
                key, prev_hash=entry.prev_hash, seq=entry.seq, at=entry.at, actor=entry.actor,
                action=entry.action, target=entry.target, details=entry.details,
            )  # fmt: skip
        head = _head(session)
        head.hash, head.mac = prev, audit.head_mac(key, seq=head.seq, hash=prev)
    problems = _verify(service).problems
    assert len(problems) == 1 and "anchored entries differ from the log" in problems[0]
    assert "anchor line" in problems[0] and "entry 3 had hash" in problems[0]


def test_rolled_back_appends_and_unreadable_anchor_lines_raise_no_alarm(service):
    _fill(service, n_views=1)
    before = _anchor(service).read_bytes()
    with pytest.raises(RuntimeError), session_scope(service.services.sessions) as session:
        audit.append(session, service.services.signing_key, actor="t", action="rolled_back")
        raise RuntimeError("the request failed after auditing")
    assert _anchor(service).read_bytes() == before
    with _anchor(service).open("ab") as handle:
        handle.write(b"12 abc")  # half a line, as a crash mid-write leaves it
    service.client.get("/families/F1", headers=service.headers("commission"))
    result = _verify(service)
    assert result.ok, result.problems


def _cut_tail_after(database_url: str, seq: int) -> None:
    """Without the key: delete the entries after `seq`, roll the head back to entry `seq`."""
    from serving.db.session import make_engine

    engine = make_engine(database_url)
    with engine.begin() as connection:
        drop_audit_guards(connection)
        connection.execute(delete(AuditEntry).where(AuditEntry.seq > seq))
        kept = connection.execute(select(AuditEntry).where(AuditEntry.seq == seq)).one()
        connection.execute(update(AuditHead).values(seq=seq, hash=kept.hash))
    engine.dispose()


def test_cli_verify_reports_a_cut_tail(tmp_path, database_url):
    from typer.testing import CliRunner

    from serving.audit_cli import app as audit_app
    from serving.core.config import load_serving_settings
    from serving.users_cli import app as users_app
    from tests.serving.helpers import PASSWORD

    config = tmp_path / "serving.yaml"
    anchor = tmp_path / "elsewhere" / "anchor.log"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: {database_url}\n"
        f"secret_key: cli-test-key-0123456789abcdef-0123456789\naudit_anchor_file: {anchor}\n"
    )
    runner = CliRunner()
    for name in ("amina", "bolat"):
        added = runner.invoke(
            users_app, ["add", name, "--role", "admin", "--password", PASSWORD,
                        "--config", str(config)],
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    assert len(anchor.read_text().splitlines()) == 2
    _cut_tail_after(load_serving_settings(config).resolved_database_url, 1)
    broken = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert broken.exit_code == 1
    assert "the log ends at seq 1 but the anchor saw seq 2" in broken.output


def test_migration_0003_over_a_log_with_entries_and_back(database_url):
    from alembic import command

    from serving.db.session import make_engine, make_session_factory
    from serving.migrations import alembic_config, upgrade

    key = b"migration-test-key"
    log_before_0003(database_url, key, 1)
    engine = make_engine(database_url)
    upgrade(database_url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        problems = audit.verify(session, key).problems
    assert len(problems) == 1 and "before migration 0003" in problems[0], problems
    with session_scope(sessions) as session:  # as every migrating command does, with the key
        assert audit.seal_head(session, key)
        audit.append(session, key, actor="cli", action="sealed")
    with session_scope(sessions) as session:
        assert audit.verify(session, key).ok
    command.downgrade(alembic_config(database_url), "0002")
    with engine.begin() as connection:  # no guards after the downgrade
        connection.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="x"))
    upgrade(database_url)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(delete(AuditEntry))
    engine.dispose()


def test_the_command_that_migrates_past_0003_seals_the_head(tmp_path, database_url, monkeypatch):
    """`serve` migrates and seals the head before anything is appended: a tail cut right after
    the upgrade, with the head rolled back, is then detected (the seal no longer matches)."""
    import uvicorn
    from typer.testing import CliRunner

    from serving.audit_cli import app as audit_app
    from shanyraq.cli import build_app

    key = "seal-test-key-0123456789abcdef-0123456789"
    log_before_0003(database_url, key.encode(), 3)
    config = tmp_path / "serving.yaml"
    anchor = tmp_path / "anchor.log"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: {database_url}\n"
        f"secret_key: {key}\naudit_anchor_file: {anchor}\n"
    )
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)  # migrate, don't serve
    runner = CliRunner()
    from tests.serving.helpers import free_port

    served = runner.invoke(
        build_app(), ["serve", "--port", str(free_port()), "--config", str(config)]
    )
    assert served.exit_code == 0, served.output
    assert not anchor.exists()  # nothing was appended: the seal alone

    intact = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert intact.exit_code == 0, intact.output
    assert "audit log intact: 3 entries" in intact.output

    _cut_tail_after(database_url, 2)  # the head keeps the seal of entry 3
    broken = runner.invoke(audit_app, ["verify", "--config", str(config)])
    assert broken.exit_code == 1
    assert "the head (entry 2) has a MAC that does not match it" in broken.output


def test_a_head_that_is_not_the_log_s_last_entry_under_the_key_is_not_sealed(database_url):
    from serving.db.session import make_engine, make_session_factory
    from serving.migrations import upgrade

    key = b"seal-test-key"
    log_before_0003(database_url, key, 2)
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        assert not audit.seal_head(session, b"another key")  # the last link does not hold
    with session_scope(sessions) as session:
        drop_audit_guards(session)
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    with session_scope(sessions) as session:
        assert not audit.seal_head(session, key)  # the head records an entry the log lacks
        assert _head(session).mac is None
        problems = audit.verify(session, key).problems
    assert any("the head records entry 2" in p for p in problems), problems
    with session_scope(sessions) as session:
        first = session.execute(select(AuditEntry)).scalar_one()
        _head(session).seq, _head(session).hash = first.seq, first.hash
    with session_scope(sessions) as session:
        assert audit.seal_head(session, key)
        assert not audit.seal_head(session, key)  # sealed once
    with session_scope(sessions) as session:
        assert audit.verify(session, key).ok
    engine.dispose()


def test_every_factory_of_a_process_anchors_its_heads(tmp_path, database_url):
    """A session factory made where a dropped one lived (the address of a freed object
    reused: a CLI process running one command after another, tests) was taken for the dropped
    one, which had its listeners already, and its commits wrote no anchor line."""
    from serving import audit
    from serving.audit_anchor import anchor_sessions
    from serving.db.session import make_engine, make_session_factory, session_scope
    from serving.migrations import upgrade

    upgrade(database_url)
    engine = make_engine(database_url)
    anchor = tmp_path / "anchor.log"
    for n in range(1, 6):
        dropped = make_session_factory(engine)
        anchor_sessions(dropped, anchor)
        del dropped  # freed at once: the next factory is likely made at its address
        factory = make_session_factory(engine)
        anchor_sessions(factory, anchor)
        with session_scope(factory) as session:
            audit.append(session, b"k" * 32, actor="cli", action="user_created", target=f"u:{n}")
        assert len(anchor.read_text().splitlines()) == n, n
    engine.dispose()
