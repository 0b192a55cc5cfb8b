"""Operator commands found by the review of `rescore promote`, `db` and `users` (review 19):
the promotion's audit entry is anchored outside the database like every other command's; a
promote dry run refuses a missing signing key as the run does; `--as` without `--reassess`
is refused in a promotion's words; a reassessment that stops after the promotion says that
the promotion is done and what recomputes the rest; `db backup` without the signing key
keeps its verified copy, exits 0 and says why it was not audited."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from serving import audit
from serving.db.models import AuditEntry, AuditHead, Family
from serving.db.session import make_engine, session_scope
from serving.rescore_cli import app as rescore_app
from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.serving.audit_helpers import drop_audit_guards
from tests.serving.backup_helpers import ask_sqlite, audited_actions
from tests.serving.helpers import Service
from tests.serving.promote_helpers import promote_config, promotion_state, run_promote

VERSION = "test-0"  # tiny_model(seed=0)
KEY = b"test-secret-key-0123456789abcdef-0123"  # cli_config's secret_key


def _run(app: Any, *args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'shanyraq.db'}"


def _add_user(tmp_path: Path, name: str, *, region: str | None) -> None:
    connection = sqlite3.connect(tmp_path / "data" / "shanyraq.db")
    with connection:
        connection.execute(
            "INSERT INTO users (username, password_hash, role, region, active, created_at) "
            "VALUES (?, 'x', 'admin', ?, 1, '2026-01-01 00:00:00')",
            (name, region),
        )
    connection.close()


def _actions(tmp_path: Path) -> list[str]:
    engine = make_engine(_url(tmp_path))
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars()
            )
    finally:
        engine.dispose()


def _cut_tail_with_the_key(url: str, seq: int) -> None:
    """What someone with database access and the key does: delete the entries after `seq`
    and roll the head back to entry `seq` with a valid MAC."""
    engine = make_engine(url)
    with engine.begin() as connection:
        drop_audit_guards(connection)
        connection.execute(delete(AuditEntry).where(AuditEntry.seq > seq))
        kept = connection.execute(select(AuditEntry).where(AuditEntry.seq == seq)).one()
        mac = audit.head_mac(KEY, seq=seq, hash=kept.hash)
        connection.execute(update(AuditHead).values(seq=seq, hash=kept.hash, mac=mac))
    engine.dispose()


# --- rescore promote ------------------------------------------------------------------------


def test_the_promotion_s_audit_entry_is_anchored_so_cutting_it_is_detected(
    tmp_path, model, rescored_config
):
    done = _run(
        rescore_app, "promote", "--model", model, "--config", rescored_config, "--no-progress"
    )
    assert done.exit_code == 0, done.output
    actions = _actions(tmp_path)
    assert actions[-1] == "scores_promoted"
    promoted_seq = len(actions)
    anchor = tmp_path / "data" / "audit_anchor.log"
    assert anchor.is_file() and anchor.read_text().split()[-2] == str(promoted_seq)

    _cut_tail_with_the_key(_url(tmp_path), promoted_seq - 1)
    verified = _run(build_app(), "audit", "verify", "--config", rescored_config)
    assert verified.exit_code == 1, verified.output
    assert f"the anchor saw seq {promoted_seq}" in verified.output


def test_rescore_and_discard_entries_are_anchored_too(tmp_path, model, rescored_config):
    # They were appended through plain sessions: cut from the log's end with the head rolled
    # back, `audit verify` had no anchor line to tell.
    anchor = tmp_path / "data" / "audit_anchor.log"
    assert _actions(tmp_path)[-1] == "photos_rescored"  # the `rescored_config` fixture's run
    assert anchor.read_text().split()[-2] == str(len(_actions(tmp_path)))
    done = _run(rescore_app, "discard", "--model", model, "--config", rescored_config)
    assert done.exit_code == 0, done.output
    actions = _actions(tmp_path)
    assert actions[-1] == "rescore_discarded"
    assert anchor.read_text().split()[-2] == str(len(actions))


def test_a_dry_run_refuses_a_missing_signing_key_as_the_run_does(tmp_path, model, rescored_config):
    keyless = rescored_config.with_name("keyless.yaml")
    keyless.write_text(
        "".join(
            line
            for line in rescored_config.read_text().splitlines(True)
            if "secret_key" not in line
        )
    )
    before = _actions(tmp_path)
    for extra in ((), ("--dry-run",)):
        refused = _run(rescore_app, "promote", "--model", model, *extra, "--config", keyless,
                       "--no-progress")  # fmt: skip
        assert _code(refused) == "signing_key_missing", (extra, refused.output)
    assert _actions(tmp_path) == before
    assert not (tmp_path / "data" / "secret_key").exists()  # none made by the dry run either


def test_as_without_reassess_is_refused_in_a_promotion_s_words(tmp_path, model, rescored_config):
    _add_user(tmp_path, "regional", region="astana")
    before = _actions(tmp_path)
    for extra in ((), ("--dry-run",)):
        refused = _run(rescore_app, "promote", "--model", model, "--as", "regional", *extra,
                       "--config", rescored_config, "--no-progress")  # fmt: skip
        assert _code(refused) == "refresh_region_forbidden", refused.output
        message = str(refused.exception)
        assert "--reassess` reassesses" not in message and "promote without --reassess" not in (
            message
        )
        assert "every region" in message and "national admin" in message
        unknown = _run(rescore_app, "promote", "--model", model, "--as", "nobody", *extra,
                       "--config", rescored_config, "--no-progress")  # fmt: skip
        assert _code(unknown) == "reassess_actor_invalid", unknown.output
        assert "reassessing" not in str(unknown.exception)
    assert _actions(tmp_path) == before

    # With --reassess the refusal still names the reassessment and the way around it.
    refused = _run(rescore_app, "promote", "--model", model, "--reassess", "--as", "regional",
                   "--config", rescored_config, "--no-progress")  # fmt: skip
    assert "promote without --reassess" in str(refused.exception)


def test_families_a_reassessment_cannot_recompute_are_named_after_the_others_are_done(
    rescored: Service, tmp_path: Path, database_url: str, promote_models: tuple[Path, Path, Path]
) -> None:
    _, new, fusion = promote_models
    with session_scope(rescored.services.sessions) as session:  # no longer validates
        family = session.get_one(Family, "F1")
        family.record = {**family.record, "criteria": {**family.record["criteria"],
                                                       "members_total": -3.0}}  # fmt: skip
    config = promote_config(tmp_path, database_url, "own", model=new, fusion=fusion)
    stopped = run_promote(config, new)
    assert _code(stopped) == "reassess_incomplete", stopped.output
    message = str(stopped.exception)
    assert "the promotion above is done" in message and "1 family(ies) could not" in message
    assert "[family_record_invalid]" in message and "F1" in message
    assert (
        "reassessed 0 family(ies)" in stopped.output
    )  # F1 is the one stale (others: tests/serving/test_reassess_goes_on_review19.py)
    assert "shanyraq assessments refresh --as admin_national" in message
    assert "updated now: 2 photo(s)" in stopped.output
    photos, _, actions = promotion_state(rescored)
    assert "scores_promoted" in actions and set(photos) == {"test-0"}


# --- db backup -------------------------------------------------------------------------------


def test_a_backup_without_the_signing_key_is_kept_and_says_why_it_is_not_audited(tmp_path, live):
    keyless = live.with_name("keyless.yaml")
    keyless.write_text(
        "".join(line for line in live.read_text().splitlines(True) if "secret_key" not in line)
    )
    out = tmp_path / "backups" / "copy.db"
    made = _run(build_app(), "db", "backup", out, "--config", keyless)
    assert made.exit_code == 0, made.output
    assert f"backup written: {out}" in made.output
    assert "not audited: no signing key here" in made.output
    assert "SHANYRAQ_SERVING__SECRET_KEY" in made.output
    assert ask_sqlite(out, "PRAGMA integrity_check") == [("ok",)]
    database = tmp_path / "data" / "shanyraq.db"
    assert [a for a, _ in audited_actions(database)] == ["user_created"]
    assert not (tmp_path / "data" / "secret_key").exists()
