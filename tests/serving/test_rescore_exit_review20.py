"""Re-scoring and re-assessment runs (review 20): `shanyraq rescore` that stops unfinished
exits 3 (`rescore_unfinished`), not 0, distinct from store damage (2) and a finished run (0),
and its --help says so; the reassessment after `rescore promote` records the run itself in the
audit log (`assessments_reassessed`), as `rescore` and `assessments refresh` do, even when it
stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving import audit
from serving.assessments import LOGIC_KEY, WELFARE_CONFIG_KEY
from serving.db.models import AuditEntry
from serving.reassessment import reassess, resolve_actor
from tests.serving.helpers import Service
from tests.serving.promote_helpers import model_version_of
from tests.serving.rescore_fixtures import rescored_entries
from tests.serving.rescore_store_helpers import stored_hashes, stored_service
from tests.shanyraq.cli_helpers import command_help, run_main_raw_code
from welfare.fusion import FusionModel


def _rescore_main(monkeypatch: Any, capsys: Any, model: Path, config: Path) -> tuple[int, str, str]:
    """`shanyraq rescore` through the entry point a script runs: exit status, stdout, stderr."""
    return run_main_raw_code(monkeypatch, capsys, "rescore", "--model", str(model), "--device",
                             "cpu", "--no-progress", "--config", str(config))  # fmt: skip


def _stays_uncovered(monkeypatch: pytest.MonkeyPatch, photo_id: int) -> None:
    """A photo that stays uncovered at every check of the run's end (one committed behind the
    cursor by another writer, say): the run walks again, finds nothing it can score, and stops
    unfinished."""
    import serving.rescore

    monkeypatch.setattr(serving.rescore, "first_uncovered", lambda *_args: photo_id)


def test_an_unfinished_run_exits_3_not_0_and_resuming_finishes_it(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    config, stored = stored_service(tmp_path, 3)
    with monkeypatch.context() as patched:
        _stays_uncovered(patched, stored.ids[0])
        code, out, err = _rescore_main(monkeypatch, capsys, model, config)
    assert code == 3, (out, err)  # was 0: a script took it for a finished run
    assert "INCOMPLETE" in out and err.startswith("error [rescore_unfinished]: "), (out, err)
    assert "of 3 photo(s) in scope, 3 have a new score and 0 a recorded reason" in err

    code, out, err = _rescore_main(monkeypatch, capsys, model, config)  # resumed
    assert code == 0 and ": complete" in out and err == "", (out, err)


def test_an_unfinished_run_exits_3_apart_from_store_damage_and_a_finished_run(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    config, stored = stored_service(tmp_path, 4)
    original = stored.store.path_for(stored_hashes(stored)[2])
    kept = original.read_bytes()
    original.unlink()  # missing from the store

    with monkeypatch.context() as patched:
        _stays_uncovered(patched, stored.ids[0])
        code, out, err = _rescore_main(monkeypatch, capsys, model, config)
    assert code == 3, (out, err)
    assert "INCOMPLETE (run the command again to resume)" in out
    assert err.startswith("error [rescore_unfinished]: ") and len(err.splitlines()) == 1, err
    assert f"Run `shanyraq rescore --model {model} --device cpu --config {config}` again" in err
    assert "--restart" not in err  # the command named resumes; it must not discard the run
    assert "1 original(s) the store could not give" in err  # said now, named once it finishes
    assert rescored_entries(stored.url)[-1]["complete"] is False

    # Resumed: it finishes, but for the original the store could not give (exit 2, as before).
    code, out, err = _rescore_main(monkeypatch, capsys, model, config)
    assert code == 2 and err.startswith("error [photo_store_damaged]: "), (out, err)
    assert rescored_entries(stored.url)[-1]["complete"] is True

    original.write_bytes(kept)  # restored from a backup: finished, exit 0
    code, out, err = _rescore_main(monkeypatch, capsys, model, config)
    assert code == 0 and ": complete" in out and err == "", (out, err)


def test_rescore_help_names_its_exit_statuses() -> None:
    text = " ".join(command_help(["rescore"]).split())
    assert "Exit status: 0 when the run finished; 3 when it stopped unfinished" in text
    assert "2 on an error, photo_store_damaged included" in text


def _reassess_entries(service: Service) -> list[AuditEntry]:
    with service.services.sessions() as session:
        return list(
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "assessments_reassessed")
                .order_by(AuditEntry.seq)
            ).scalars()
        )


def test_a_reassessment_is_audited_as_a_run_and_anchored(
    promoted: Service, promote_models: tuple[Path, Path, Path]
) -> None:
    services = promoted.services
    with services.sessions() as session:
        actor = resolve_actor(session, "admin_national")
    version = model_version_of(promote_models[1])
    made = reassess(services, model_version=version, actor=actor, progress=False)
    assert made == [("F2", 2)]

    (entry,) = _reassess_entries(promoted)
    assert (entry.actor, entry.target) == ("admin_national", f"model:{version}")
    details = entry.details
    assert details["outcome"] == "completed_with_failures"
    assert (details["planned"], details["reassessed"], details["already_current"]) == (2, 1, 0)
    assert details["failed"] == {"F1": "family_record_invalid"} and details["not_reached"] == 0
    rests_on = details["model_versions"]
    assert rests_on["fusion"] == str(FusionModel.load(promote_models[2]).meta.version)
    assert rests_on[WELFARE_CONFIG_KEY] and rests_on[LOGIC_KEY]
    with services.sessions() as session:
        assert audit.verify(session, services.signing_key).ok
        last = session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())).first()
    assert last is not None and last[0] == entry.seq  # the run's entry ends the log
    anchor = services.settings.resolved_audit_anchor_file.read_text().splitlines()
    assert anchor[-1].split()[0] == str(entry.seq)  # anchored, as every command's appends are


def test_a_reassessment_cut_short_is_audited_with_what_it_did(
    promoted: Service, promote_models: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import serving.assessments_refresh

    real = serving.assessments_refresh.recompute

    def ctrl_c_at_f2(services: Any, family_id: str, **kwargs: Any) -> int | None:
        if family_id == "F2":
            raise KeyboardInterrupt
        return real(services, family_id, **kwargs)

    monkeypatch.setattr(serving.assessments_refresh, "recompute", ctrl_c_at_f2)
    services = promoted.services
    with services.sessions() as session:
        actor = resolve_actor(session, "admin_national")
    version = model_version_of(promote_models[1])
    with pytest.raises(KeyboardInterrupt):
        reassess(services, model_version=version, actor=actor, progress=False)

    (entry,) = _reassess_entries(promoted)
    details = entry.details
    assert (details["outcome"], details["error"], details["family_id"]) == (
        "interrupted", "KeyboardInterrupt", "F2",
    )  # fmt: skip
    assert details["failed"] == {"F1": "family_record_invalid"}
    assert (details["reassessed"], details["not_reached"]) == (0, 1)
