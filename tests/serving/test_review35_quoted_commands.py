"""Every folder (and other given argument) the service names in a command to run is one word of
that command as a shell reads it, and a plain folder reads as given.

Before, `rescore`'s way to resume, `rescore discard`'s new run, `rescore promote`'s refusals
(`--model`, the `assessments refresh --config` after a reassessment), `assessments refresh`'s
own way again and the demo's (`welfare train --out`, `users set-password --config`, the
rescore of photos of another model) named the folder bare: a folder with a space, a quote or
`$` in its name split the command, copied to a shell, into other arguments (or failed on an
unclosed quote, or expanded `$...`). Now the command, split as a shell splits it, runs as told.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from serving.db.models import Family
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_cli import DeviceChoice, _again
from shanyraq.cli import build_app
from tests.serving.helpers import Service, make_settings, serving_yaml
from tests.serving.refresh_scene import assessment_versions, one_record_unreadable
from tests.serving.rescore_fixtures import cli_config, populate
from tests.serving.rescore_store_helpers import stored_service
from tests.serving.told_command_helpers import option, parsed, the_args, told
from tests.shanyraq.cli_helpers import run_main_raw_code

# A folder name a shell would split (space), fail on (quote) or expand (`$`), left as it is.
ODD = "my 'models $HOME"
runner = CliRunner()


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    folder = tmp_path / ODD
    folder.mkdir()
    return folder


def odd_service(tmp_path: Path, odd: Path, model: Path, n: int) -> tuple[Path, Path]:
    """(model, config): a copy of `model` and the serving.yaml of a service of `n` stored
    photos, both in the odd folder."""
    config, _ = stored_service(tmp_path, n)
    return shutil.copytree(model, odd / "model"), Path(shutil.copy(config, odd / "serving.yaml"))


# --- rescore: the way to resume, and the run after a discard ----------------------------------


def test_the_way_to_resume_names_each_folder_as_one_word(odd: Path) -> None:
    again = _again(odd / "model", "2026-01-02", DeviceChoice.cpu, odd / "serving.yaml")
    assert shlex.split(again) == [
        "shanyraq", "rescore", "--model", str(odd / "model"), "--since", "2026-01-02",
        "--device", "cpu", "--config", str(odd / "serving.yaml"),
    ]  # fmt: skip
    plain = _again(Path("models/new"), None, DeviceChoice.auto, Path("site.yaml"))
    assert plain == "shanyraq rescore --model models/new --config site.yaml"  # as before


def test_an_unfinished_run_in_a_folder_with_a_space_resumes_by_the_command_it_names(
    tmp_path: Path, odd: Path, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import serving.rescore

    copy, config = odd_service(tmp_path, odd, model, 3)
    args = ("--model", str(copy), "--device", "cpu", "--no-progress", "--config", str(config))
    with monkeypatch.context() as patched:  # a photo stays uncovered: the run stops unfinished
        patched.setattr(serving.rescore, "first_uncovered", lambda *_args: 1)
        code, _, err = run_main_raw_code(monkeypatch, capsys, "rescore", *args)
    assert code == 3 and err.startswith("error [rescore_unfinished]: "), err
    again = the_args(err, "rescore")
    assert option(again, "--model") == str(copy) and option(again, "--config") == str(config)

    code, out, err = run_main_raw_code(monkeypatch, capsys, "rescore", *again)  # as told
    assert code == 0 and "re-scoring run 1 under test-0: complete" in out, (out, err)


def test_a_discarded_run_names_the_new_run_on_the_same_database(
    tmp_path: Path, odd: Path, model: Path
) -> None:
    copy, config = odd_service(tmp_path, odd, model, 3)
    common = ["--model", str(copy), "--config", str(config)]
    first = runner.invoke(build_app(), ["rescore", *common, "--device", "cpu", "--no-progress"])
    assert first.exit_code == 0, first.output
    gone = runner.invoke(build_app(), ["rescore", "discard", *common])
    assert gone.exit_code == 0 and "discarded re-scoring run 1" in gone.output, gone.output
    again = the_args(gone.output, "rescore")  # was without --config: the default database
    assert option(again, "--model") == str(copy) and option(again, "--config") == str(config)

    new = runner.invoke(build_app(), ["rescore", *again, "--device", "cpu", "--no-progress"])
    assert new.exit_code == 0 and "run 2" in new.output and ": complete" in new.output, new.output


# --- rescore promote: its refusals and the reassessment's way on ------------------------------


def test_the_ways_of_a_run_name_its_model_folder_as_one_word(odd: Path) -> None:
    from serving.rescore_words import adopt_rest_way, run_again

    again = run_again("", ray=False, options=" --since 2026-01-02", model=str(odd))
    assert the_args(again, "rescore") == ["--model", str(odd), "--since", "2026-01-02"]
    rest = adopt_rest_way(3, model=str(odd))
    assert the_args(rest, "rescore promote") == ["--model", str(odd), "--adopt-rest"]
    assert run_again("", ray=False, options="") == "run `shanyraq rescore --model DIR`"


def test_photos_no_run_covered_name_the_run_with_the_model_folder_as_one_word(
    tmp_path: Path, odd: Path
) -> None:
    from serving.rescore_coverage import RescoreScopePartialError, check_coverage

    url = f"sqlite:///{tmp_path / 'shanyraq.db'}"
    populate(url, tmp_path / "photos", 2)  # scored by another model, none re-scored
    engine = make_engine(url)
    try:
        with (
            make_session_factory(engine)() as session,
            pytest.raises(RescoreScopePartialError) as refused,
        ):
            check_coverage(session, "test-0", odd)
    finally:
        engine.dispose()
    args = the_args(refused.value.message, "rescore")
    assert args == ["--model", str(odd), "--since", "2026-01-01"]


def test_a_promotion_without_a_run_names_the_run_with_the_model_folder_as_one_word(
    tmp_path: Path, odd: Path, model: Path
) -> None:
    from serving.promote_plan import RescoreRunNotFoundError, plan

    url = f"sqlite:///{tmp_path / 'shanyraq.db'}"
    populate(url, tmp_path / "photos", 2)
    copy = shutil.copytree(model, odd / "model")
    engine = make_engine(url)
    try:
        with pytest.raises(RescoreRunNotFoundError) as refused:
            plan(make_session_factory(engine), model_dir=copy, serving_model_dir=copy)
    finally:
        engine.dispose()
    assert the_args(refused.value.message, "rescore") == ["--model", str(copy)]


def test_a_stopped_reassessment_names_refresh_with_the_config_as_one_word(
    tmp_path: Path, odd: Path, models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    _, new = models
    config = Path(shutil.copy(cli_config(tmp_path, 2, model_dir=new), odd / "serving.yaml"))
    common = ["--config", str(config), "--no-progress"]
    scored = runner.invoke(
        build_app(), ["rescore", "--model", str(new), "--device", "cpu", *common]
    )
    assert scored.exit_code == 0, scored.output

    def lost(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("UPDATE families", {}, Exception("disk I/O error"))

    monkeypatch.setattr("serving.reassessment.reassess", lost)
    args = ["promote", "--model", str(new), "--reassess", "--as", "admin", *common]
    done = runner.invoke(build_app(), ["rescore", *args])
    assert done.exception is not None, done.output
    again = the_args(str(done.exception), "assessments refresh")
    assert parsed(again, "assessments", "refresh")["config"] == config
    assert option(again, "--as") == "admin"


# --- assessments refresh: its own way again -----------------------------------------------------


def test_a_refresh_that_failed_for_a_family_names_itself_again_as_one_word_each(
    service: Service, edit_config: Any, tmp_path: Path, odd: Path, database_url: str
) -> None:
    one_record_unreadable(service, edit_config)  # BAD's record no longer validates
    config = serving_yaml(odd / "cli.yaml", tmp_path, database_url, fusion_dir="")
    run = runner.invoke(
        build_app(), ["assessments", "refresh", "--as", "admin_national", "--config", str(config)]
    )
    assert run.exception is not None and "BAD (family_record_invalid)" in str(run.exception)
    again = the_args(str(run.exception), "assessments refresh")
    assert option(again, "--config") == str(config)

    with session_scope(service.services.sessions) as session:  # the record corrected
        family = session.get_one(Family, "BAD")
        given = session.get_one(Family, "A1").record["criteria"]["members_total"]
        family.record = {**family.record, "criteria": {**family.record["criteria"],
                                                       "members_total": given}}  # fmt: skip
    rerun = runner.invoke(build_app(), ["assessments", "refresh", *again])  # as told
    assert rerun.exit_code == 0, rerun.output
    assert assessment_versions(service)["BAD"] == [1, 2]


# --- the demo's refusals and warnings -------------------------------------------------------


def test_a_demo_model_beside_others_names_welfare_train_with_its_folder_as_one_word(
    demo_paths: Any, edit_config: Any, odd: Path
) -> None:
    from serving import demo_build
    from serving.demo_models import DemoFusionMixError
    from tests.serving.demo_helpers import raise_poverty_line
    from welfare.cli import app as welfare_app
    from welfare.criteria import get_welfare_config
    from welfare.train import train_models

    paths = dataclasses.replace(demo_paths, fusion_root=odd / "fusion")
    train_models(paths.fusion_root, n=400, seed=0, names=["lgbm_tabular", "rf_tabular"],
                 config=get_welfare_config())  # fmt: skip
    edit_config("welfare.yaml", raise_poverty_line)
    with pytest.raises(DemoFusionMixError) as refused:
        demo_build.ensure_models(paths)
    args = the_args(refused.value.message, "welfare train")
    group = get_command(welfare_app)
    assert isinstance(group, TyperGroup)
    options = group.commands["train"].make_context("train", list(args)).params
    assert options["out"] == paths.fusion_root and options["overwrite"] is True


def test_a_demo_inspector_who_cannot_sign_in_names_set_password_with_the_config_as_one_word(
    odd: Path,
) -> None:
    from serving.demo import DEMO_CONFIG, _create_accounts, demo_regions, seed_demo
    from serving.users import reset_password
    from shanyraq.errors import ShanyraqError

    settings = make_settings(odd, "")
    _create_accounts(settings)
    inspector = f"inspector.{demo_regions()[0].split('_')[0]}"
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            reset_password(session, username=inspector, password="changed-by-the-site-1")
    finally:
        engine.dispose()
    with pytest.raises(ShanyraqError) as refused:
        seed_demo(settings, n_families=6, seed=7, config=settings.data_dir / DEMO_CONFIG)
    args = the_args(refused.value.message, "users set-password")
    assert args == [inspector, "--config", str(settings.data_dir / DEMO_CONFIG)]
    assert parsed(args, "users", "set-password")["config"] == settings.data_dir / DEMO_CONFIG


def test_demo_photos_of_another_model_name_rescore_with_its_folders_as_one_word(
    odd: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from serving.demo import DEMO_CONFIG, _say_other_photo_models

    copy = shutil.copytree(model, odd / "model")
    settings = make_settings(odd, "", model_dir=copy)
    settings.data_dir.mkdir()
    populate(settings.resolved_database_url, settings.data_dir / "photos", 1)  # old-model's
    with caplog.at_level(logging.WARNING, logger="serving.demo"):
        _say_other_photo_models(settings, settings.data_dir / DEMO_CONFIG)
    (said,) = [r.getMessage() for r in caplog.records if r.name == "serving.demo"]
    config = str(settings.data_dir / DEMO_CONFIG)
    rescore, promote = told(said, "rescore")  # `rescore`, then `rescore promote`
    assert rescore == ["--model", str(copy), "--config", config]
    assert promote[0] == "promote"
    assert option(promote, "--model") == str(copy) and option(promote, "--config") == config
