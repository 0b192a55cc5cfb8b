"""A command given --config tells, in its refusals, commands that carry that --config: run as
told, each works on the same database, not on the default configs' one.

Before, `rescore promote`'s refusals (no run, a run unfinished, photos no run covered, a
regional admin's --reassess), `rescore discard`'s refusal and `assessments refresh`'s refusal
of an unknown --as named their commands without --config: a site running them as written
worked on the default configs' database (refused there, or, for `users add`, made there). The
default configs here point at a data folder of their own, which no told command may make. The
demo prints its settings file by its absolute path, so its --config works from any folder.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from serving.db.models import AuditEntry, Photo, RescoredScore, RescoreRun, User
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.storage import PhotoStore
from tests.serving.rescore_fixtures import StoredPhotos, cli_config
from tests.serving.rescore_store_helpers import upload_on_old_model
from tests.serving.told_command_helpers import default_configs_elsewhere, option, parsed, told
from tests.shanyraq.cli_helpers import run_main_raw_code

PASSWORD = "told-config-password-1"


@dataclass(frozen=True)
class Site:
    """A site's serving.yaml over its own SQLite database, beside default configs whose
    database lives in `default_data` (which nothing here should make)."""

    config: Path
    url: str
    default_data: Path

    def rows(self, query: Any) -> list[Any]:
        engine = make_engine(self.url)
        try:
            with make_session_factory(engine)() as session:
                return list(session.execute(query).all())
        finally:
            engine.dispose()


@pytest.fixture
def site(
    tmp_path: Path, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    """Three photos scored by the old model in the site's database (the new model served);
    the default configs (SHANYRAQ_CONFIGS_DIR) on a data folder of their own."""
    from serving.core.config import get_settings

    default_configs_elsewhere(tmp_path, monkeypatch)
    (tmp_path / "site").mkdir()
    config = cli_config(tmp_path / "site", 3, model_dir=models[1])
    yield Site(config, f"sqlite:///{tmp_path / 'site' / 'data' / 'shanyraq.db'}",
               tmp_path / "default-data")  # fmt: skip
    get_settings.cache_clear()


# The `shanyraq` entry point in-process: (exit code, stdout, stderr).
run = run_main_raw_code


def rescore(site: Site, model: Path, *extra: str) -> list[str]:
    return ["rescore", "--model", str(model), "--config", str(site.config), *extra,
            "--device", "cpu", "--no-progress"]  # fmt: skip


def runs(site: Site) -> list[tuple[Any, ...]]:
    rows = site.rows(
        select(RescoreRun.id, RescoreRun.since_key, RescoreRun.status).order_by(RescoreRun.id)
    )
    return [tuple(row) for row in rows]


# --- rescore promote ------------------------------------------------------------------------


def test_a_promotion_without_a_run_tells_the_run_on_its_own_database(
    site: Site, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _, new = models
    promote = ["rescore", "promote", "--model", str(new), "--config", str(site.config)]
    code, _, err = run(monkeypatch, capsys, *promote)
    assert code == 2 and "[rescore_run_not_found]" in err, err
    (args,) = told(err, "rescore")
    assert option(args, "--config") == str(site.config), err

    code, out, err = run(monkeypatch, capsys, "rescore", *args, "--device", "cpu", "--no-progress")
    assert code == 0, (out, err)
    assert runs(site) == [(1, "", "done")]
    code, out, err = run(monkeypatch, capsys, *promote, "--no-progress")
    assert code == 0, (out, err)
    assert not site.default_data.exists()


def test_photos_no_run_covered_tell_the_run_from_their_day_on_the_same_database(
    site: Site, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _, new = models
    code, out, err = run(monkeypatch, capsys, *rescore(site, new, "--since", "2026-01-02"))
    assert code == 0, (out, err)
    promote = ["rescore", "promote", "--model", str(new), "--config", str(site.config)]
    code, _, err = run(monkeypatch, capsys, *promote)
    assert code == 2 and "[rescore_scope_partial]" in err, err
    (args,) = told(err, "rescore")
    assert option(args, "--since") == "2026-01-01" and option(args, "--config") == str(site.config)

    code, out, err = run(monkeypatch, capsys, "rescore", *args, "--device", "cpu", "--no-progress")
    assert code == 0, (out, err)
    assert [since for _, since, _ in runs(site)] == [
        "2026-01-02T00:00:00+00:00", "2026-01-01T00:00:00+00:00"
    ]  # fmt: skip
    code, out, err = run(monkeypatch, capsys, *promote, "--no-progress")
    assert code == 0, (out, err)
    assert {version for (version,) in site.rows(select(Photo.model_version))} == {"test-0"}
    assert not site.default_data.exists()


def test_an_unfinished_run_tells_itself_again_on_the_same_database(
    site: Site, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import serving.rescore

    _, new = models
    with monkeypatch.context() as patched:  # a photo stays uncovered: the run stops unfinished
        patched.setattr(serving.rescore, "first_uncovered", lambda *_args: 1)
        code, _, err = run(monkeypatch, capsys, *rescore(site, new))
    assert code == 3, err
    code, _, err = run(
        monkeypatch, capsys, "rescore", "promote", "--model", str(new), "--config", str(site.config)
    )
    assert code == 2 and "[rescore_incomplete]" in err, err
    (args,) = told(err, "rescore")
    assert option(args, "--config") == str(site.config), err

    code, out, err = run(monkeypatch, capsys, "rescore", *args, "--device", "cpu", "--no-progress")
    assert code == 0 and "re-scoring run 1 under test-0: complete" in out, (out, err)
    assert runs(site) == [(1, "", "done")]
    assert not site.default_data.exists()


def test_a_regional_admins_reassessment_tells_the_refresh_on_the_same_database(
    site: Site, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _, new = models
    engine = make_engine(site.url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            session.add(User(username="regional", password_hash="x", role="admin",
                             region="astana"))  # fmt: skip
    finally:
        engine.dispose()
    code, _, err = run(
        monkeypatch, capsys, "rescore", "promote", "--model", str(new), "--reassess",
        "--as", "regional", "--config", str(site.config),
    )  # fmt: skip
    assert code == 2 and "region" in err, err
    (args,) = told(err, "assessments refresh")
    assert option(args, "--config") == str(site.config), err
    args = [{"REGION": "astana", "NAME": "regional"}.get(arg, arg) for arg in args]

    audited = site.rows(select(func.count(AuditEntry.seq)))[0][0]
    code, out, err = run(monkeypatch, capsys, "assessments", "refresh", *args, "--no-progress")
    assert code == 0, (out, err)
    assert site.rows(select(func.count(AuditEntry.seq)))[0][0] > audited  # the run audited
    assert not site.default_data.exists()


# --- rescore discard ------------------------------------------------------------------------


def test_a_kept_run_tells_itself_as_it_was_started_on_the_same_database(
    site: Site, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _, new = models
    assert run(monkeypatch, capsys, *rescore(site, new))[0] == 0
    promote = ["rescore", "promote", "--model", str(new), "--config", str(site.config)]
    assert run(monkeypatch, capsys, *promote, "--no-progress")[0] == 0
    store = PhotoStore(site.config.parent / "data" / "photos")
    engine = make_engine(site.url)
    try:
        later = upload_on_old_model(engine, StoredPhotos(site.url, store, [], {}), day=5, seed=1)
    finally:
        engine.dispose()

    discard = ["rescore", "discard", "--model", str(new), "--config", str(site.config)]
    code, _, err = run(monkeypatch, capsys, *discard)
    assert code == 2 and "[rescore_discard_refused]" in err, err
    (args,) = [args for args in told(err, "rescore") if args[:2] == ["--model", str(new)]]
    assert option(args, "--config") == str(site.config), err

    code, out, err = run(monkeypatch, capsys, "rescore", *args, "--device", "cpu", "--no-progress")
    assert code == 0, (out, err)
    scored = select(RescoredScore.model_version).where(RescoredScore.photo_id == later)
    assert site.rows(scored) == [("test-0",)]
    assert not site.default_data.exists()


# --- assessments refresh and users ----------------------------------------------------------


def test_a_refresh_by_no_admin_tells_users_add_on_the_same_database(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    refresh = ["assessments", "refresh", "--as", "amina", "--config", str(site.config)]
    code, _, err = run(monkeypatch, capsys, *refresh, "--no-progress")
    assert code == 2 and "not an active admin account" in err, err
    (args,) = told(err, "users add")
    assert option(args, "--config") == str(site.config), err
    args = ["amina" if arg == "NAME" else arg for arg in args]

    code, out, err = run(monkeypatch, capsys, "users", "add", *args, "--password", PASSWORD)
    assert code == 0, (out, err)
    assert site.rows(select(User.role).where(User.username == "amina")) == [("admin",)]
    code, out, err = run(monkeypatch, capsys, *refresh, "--no-progress")  # now it may
    assert code == 0, (out, err)
    assert not site.default_data.exists()  # `users add` would have made it


# --- the words: the run again carries the --config given, and none without one -------------


def test_the_run_again_carries_the_config_given_and_none_without(tmp_path: Path) -> None:
    from serving.rescore_words import run_again

    model, config = tmp_path / "my model", tmp_path / "site config.yaml"
    model.mkdir()
    again = run_again("", ray=False, options=" --since 2026-01-02", model=str(model), config=config)
    (args,) = told(again, "rescore")
    assert args == ["--model", str(model), "--since", "2026-01-02", "--config", str(config)]
    assert parsed(args, "rescore")["config"] == config
    assert run_again("", ray=False, options="") == "run `shanyraq rescore --model DIR`"


# --- the demo's settings file ---------------------------------------------------------------


def test_the_demo_names_its_settings_file_by_a_path_that_works_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.core.config import load_serving_settings
    from serving.demo import settings_line, write_demo_settings
    from serving.demo_build import DemoPaths

    for name in [n for n in os.environ if n.startswith("SHANYRAQ_SERVING__")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # the demo's paths are relative to where it runs
    paths = DemoPaths(model_dir=tmp_path / "m", fusion_root=tmp_path / "f",
                      fusion_model="lgbm_tabular", data_dir=Path("var/demo"))  # fmt: skip
    said = settings_line(write_demo_settings(paths))
    (given,) = re.findall(r"--config (\S+) ", said)
    (config,) = shlex.split(given)
    assert Path(config) == tmp_path / "var" / "demo" / "serving.yaml"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_serving_settings(Path(config)).data_dir == tmp_path / "var" / "demo"
