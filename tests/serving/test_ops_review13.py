"""First-run and operations commands under conditions an administrator meets: a demo cut
short and run again, SHANYRAQ_SERVING__ variables of a site while the demo runs or with bad
values, a port another program holds, a database newer than the code, a backup to a folder.
Each ends in one `error [code]: ...` line or finishes the work; none changes what it refuses."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from serving.core.config import load_serving_settings
from shanyraq.cli import build_app
from shanyraq.errors import ConfigError, ShanyraqError
from tests.serving.demo_helpers import interrupt_on
from tests.serving.helpers import PASSWORD, make_settings

KEY = "ops-review-key-0123456789abcdef-0123456789"


def _run(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app(), [str(arg) for arg in args])


def _code(result: Any) -> str | None:
    return result.exception.code if isinstance(result.exception, ShanyraqError) else None


def _config(tmp_path: Path, **extra: str) -> Path:
    config = tmp_path / "serving.yaml"
    lines = [f"data_dir: {tmp_path / 'data'}", "database_url: ''", f"secret_key: {KEY}"]
    config.write_text("\n".join([*lines, *(f"{k}: {v}" for k, v in extra.items())]) + "\n")
    return config


def _add(config: Path, name: str = "amina") -> Any:
    return _run("users", "add", name, "--role", "admin", "--password", PASSWORD,
                "--config", config)  # fmt: skip


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 another program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


# --- SHANYRAQ_SERVING__ variables with bad values -------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [("METRICS_ALLOWED_CLIENTS", "127.0.0.1"), ("OVERRIDE_REASONS", "a,b"),
     ("RATE_LIMITS", "{login_per_minute: 5")],
)  # fmt: skip
def test_a_list_or_mapping_variable_that_is_not_json_is_one_clear_error(
    name, value, tmp_path, monkeypatch
):
    monkeypatch.setenv(f"SHANYRAQ_SERVING__{name}", value)
    with pytest.raises(ConfigError, match=f"SHANYRAQ_SERVING__{name} is not valid JSON"):
        load_serving_settings(_config(tmp_path))
    result = _run("db", "status", "--config", _config(tmp_path))
    assert _code(result) == "config_invalid", result.output
    assert f"SHANYRAQ_SERVING__{name}" in str(result.exception)


# --- the demo, run again after a run cut short ----------------------------------------------


@pytest.mark.slow
def test_a_demo_cut_short_is_finished_by_the_next_run(tmp_path, monkeypatch):
    import serving.demo as demo
    from serving.app import create_app

    settings = make_settings(tmp_path, "")
    with monkeypatch.context() as patched:  # Ctrl-C during the second family's photos
        interrupt_on(patched, demo, "_upload_photos", 2)
        with pytest.raises(KeyboardInterrupt):
            demo.seed_demo(settings, n_families=12, seed=1)
    assert not (settings.data_dir / demo.SEED_MARKER).exists()

    assert demo.seed_demo(settings, n_families=12, seed=1) > 0  # before: ConflictError
    assert (settings.data_dir / demo.SEED_MARKER).exists()
    assert not (settings.data_dir / demo.SEEDING_MARKER).exists()
    assert demo.seed_demo(settings, n_families=12, seed=1) == 0
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/auth/token", data={"username": "admin", "password": demo.DEMO_PASSWORD}
        ).json()["access_token"]
        families = client.get("/families", headers={"Authorization": f"Bearer {token}"}).json()
        for family in families:
            photos = client.get(
                f"/families/{family['family_id']}/photos",
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            assert photos, family["family_id"]  # the family cut short got its photos too
    assert families and {f["region"] for f in families} <= set(demo.demo_regions())


def test_a_demo_cut_short_is_not_finished_with_other_families(tmp_path, monkeypatch):
    import serving.demo as demo
    import training.synth.families as synth_families

    settings = make_settings(tmp_path, "")
    with monkeypatch.context() as patched:  # Ctrl-C while the photos are rendered
        interrupt_on(patched, synth_families, "write_families", 1)
        with pytest.raises(KeyboardInterrupt):
            demo.seed_demo(settings, n_families=12, seed=1)
    with pytest.raises(demo.DemoSeedMismatchError, match="families=12 seed=1") as refused:
        demo.seed_demo(settings, n_families=20, seed=1)
    assert "--families" in refused.value.message
    assert not (settings.data_dir / "demo-source").exists()


def test_the_demo_refuses_a_site_s_variables_before_writing_anything(tmp_path, monkeypatch):
    from serving.demo import demo_settings
    from serving.demo_build import DemoPaths

    paths = DemoPaths(
        model_dir=tmp_path / "m", fusion_root=tmp_path / "f", fusion_model="lgbm_tabular",
        data_dir=tmp_path / "demo",
    )  # fmt: skip
    site = tmp_path / "site.db"
    monkeypatch.setenv("shanyraq_serving__database_url", f"sqlite:///{site}")  # any case
    with pytest.raises(ConfigError, match="shanyraq_serving__database_url set") as refused:
        demo_settings(paths)  # the name as it is set: the one to unset
    assert "shanyraq-demo" in refused.value.message
    assert not paths.data_dir.exists() and not site.exists()


# --- a port another program listens on ------------------------------------------------------


def test_serve_says_in_one_line_that_the_port_is_taken(tmp_path, taken_port, served):
    result = _run("serve", "--port", taken_port, "--config", _config(tmp_path))
    assert _code(result) == "port_in_use", result.output
    assert f"127.0.0.1:{taken_port} is in use" in str(result.exception)
    assert "\n" not in str(result.exception) and served == []


def test_serve_refuses_an_address_of_another_machine(tmp_path, served):
    result = _run("serve", "--host", "192.0.2.1", "--config", _config(tmp_path))  # TEST-NET-1
    assert _code(result) == "listen_refused", result.output
    assert served == []


def test_the_demo_refuses_a_taken_port_before_building_anything(
    tmp_path, monkeypatch, taken_port, served
):
    import serving.demo_build as demo_build

    built: list[Any] = []
    monkeypatch.setattr(demo_build, "ensure_models", built.append)
    monkeypatch.chdir(tmp_path)
    result = _run("demo", "--port", taken_port)
    assert _code(result) == "port_in_use", result.output
    assert "--port" in str(result.exception)
    assert built == [] and served == [] and list(tmp_path.iterdir()) == []


def test_the_demo_refuses_a_port_out_of_range(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for port in ("0", "70000"):
        result = _run("demo", "--port", port, "--no-serve")
        assert result.exit_code == 2 and "--port" in result.output, port
    assert list(tmp_path.iterdir()) == []


# --- a database newer than this code --------------------------------------------------------


@pytest.mark.parametrize("args", [["users", "add", "bolat", "--role", "admin", "--password",
                                   PASSWORD], ["serve"]])  # fmt: skip
def test_migrating_commands_refuse_a_database_of_newer_code_in_one_line(args, tmp_path, served):
    config = _config(tmp_path)
    assert _add(config).exit_code == 0
    database = tmp_path / "data" / "shanyraq.db"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()
    result = _run(*args, "--config", config)  # auto_migrate is true: before, a traceback
    assert _code(result) == "database_not_migrated", result.output
    assert "run the version that wrote it" in str(result.exception)
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999",)
        ]
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (1,)
    connection.close()
    assert served == []


# --- db backup OUT that is a folder ---------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_backup_to_a_folder_is_refused_and_names_a_file(overwrite, tmp_path):
    config = _config(tmp_path)
    assert _add(config).exit_code == 0
    folder = tmp_path / "backups"
    folder.mkdir()
    result = _run("db", "backup", folder, *overwrite, "--config", config)
    assert _code(result) == "output_path_invalid", result.output
    message = str(result.exception)
    assert "is a folder" in message and str(folder / "shanyraq.db") in message
    assert "--overwrite" not in message  # it would not help
    assert list(folder.iterdir()) == []
