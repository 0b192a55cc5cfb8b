"""Service fixtures: apps on SQLite and PG (their databases: tests/serving/database_fixtures.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.helpers import Service, cheap_hasher, make_settings, seed_users, started
from tests.serving.migrated_sqlite import migrated_if_new


@pytest.fixture
def make_service(tmp_path: Path, database_url: str) -> Iterator[Any]:
    """Factory: a started app on this test's database, with settings overrides."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    started: list[TestClient] = []

    def factory(**overrides: Any) -> Service:
        # A SQLite file not made yet, or a PostgreSQL database that holds nothing yet, starts
        # as a copy of one migrated once (its subject is not the migration:
        # tests/serving/migrated_sqlite.py, tests/serving/migrated_postgres.py).
        app = create_app(make_settings(tmp_path, migrated_if_new(database_url), **overrides))
        client = TestClient(app, base_url="http://127.0.0.1")
        client.__enter__()
        started.append(client)
        return Service(client=client, app=app, tokens=seed_users(app))

    yield factory
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture
def service(make_service: Any) -> Service:
    return make_service()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its lowest cost in tests (production keeps the library's defaults)."""
    from serving.core import security

    monkeypatch.setattr(security, "_HASHER", cheap_hasher())


@pytest.fixture
def edit_config(tmp_path: Path) -> Iterator[Any]:
    """Factory: edit(name, change) applies `change` to the YAML of configs/<name> in a copy of
    configs/ that the rest of the test runs under (SHANYRAQ_CONFIGS_DIR); the cached welfare,
    synth and taxonomy configs are read anew now and again after the test."""
    import os

    import yaml

    from shanyraq.taxonomy import get_taxonomy
    from tests.serving.helpers import ROOT
    from training.synth.config import get_synth_config
    from welfare.criteria import get_welfare_config

    folder = tmp_path / "configs"
    before = os.environ.get("SHANYRAQ_CONFIGS_DIR")

    def forget() -> None:
        get_welfare_config.cache_clear()
        get_taxonomy.cache_clear()
        get_synth_config.cache_clear()

    def edit(name: str, change: Any) -> None:
        if not folder.exists():
            shutil.copytree(ROOT / "configs", folder)
        data = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        change(data)
        (folder / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        os.environ["SHANYRAQ_CONFIGS_DIR"] = str(folder)
        forget()

    yield edit
    if before is None:
        os.environ.pop("SHANYRAQ_CONFIGS_DIR", None)
    else:
        os.environ["SHANYRAQ_CONFIGS_DIR"] = before
    forget()


@pytest.fixture
def restart(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Service]]:
    """Factory: the service of `make_service` started again on its data folder and database
    with other settings (the users and their tokens stay)."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    started: list[Any] = []

    def again(before: Service, **overrides: Any) -> Service:
        app = create_app(make_settings(tmp_path, database_url, **overrides))
        client = TestClient(app, base_url="http://127.0.0.1")
        client.__enter__()
        started.append(client)
        return Service(client=client, app=app, tokens=before.tokens)

    yield again
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`uvicorn.run` replaced: the calls `serve` or `demo` made, none of them serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    return calls


def small_fusion_recipe(data: dict[str, Any]) -> None:
    """A fusion recipe that trains in seconds (400 families, 40 trees): for edit_config."""
    data["fusion"]["n_families"] = 400
    data["fusion"]["lightgbm"]["n_estimators"] = 40


@pytest.fixture
def demo_paths(tmp_path: Path, edit_config: Any) -> Any:
    """The demo's folders under tmp_path, serving lgbm_tabular trained by a small recipe; a
    photo model is present (an empty model.json), so only the fusion model is in play."""
    from serving.demo_build import DemoPaths

    edit_config("welfare.yaml", small_fusion_recipe)
    model_dir = tmp_path / "photo-model"
    model_dir.mkdir()
    (model_dir / "model.json").write_text("{}")
    return DemoPaths(
        model_dir=model_dir, fusion_root=tmp_path / "fusion", fusion_model="lgbm_tabular",
        data_dir=tmp_path / "demo",
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _code_version_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """shanyraq.provenance.code_version read from the tree once per folder in a test, and that
    value kept for the rest of it. Re-scoring runs record the code version and a resume,
    promotion or report compares with it; read anew, it changed whenever someone edited a file
    of the shared checkout during the test, and the test was refused "started with another
    code version" (a clean clone never changes under a test). Still the real value, read at
    the test's first call rather than once for the session: where a child process starts the
    run (it reads the tree itself), the test's own read then comes moments after the child's,
    not minutes. A test's `new_code` (tests/serving/rescore_helpers.py) goes on top; the real
    function stays reachable as `inspect.unwrap(code_version)`."""
    import functools

    from shanyraq import provenance

    real = provenance.code_version
    read: dict[Path | None, str] = {}

    @functools.wraps(real)
    def kept(folder: Path | None = None) -> str:
        key = None if folder is None else Path(folder).resolve()
        if key not in read:
            read[key] = real(folder)
        return read[key]

    monkeypatch.setattr(provenance, "code_version", kept)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small photo model (tests/vision/engine_fixtures.py), made once per session."""
    from shanyraq.taxonomy import get_taxonomy
    from tests.vision.engine_fixtures import make_artifact

    return make_artifact(tmp_path_factory.mktemp("model"), get_taxonomy(), seed=3)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    """A photo store in the test's folder, ready to be written."""
    from serving.storage import PhotoStore

    photo_store = PhotoStore(tmp_path / "photos")
    photo_store.prepare()
    return photo_store


@pytest.fixture
def behind_pg(tmp_path: Path, postgres_server: str) -> tuple[str, Path]:
    """A PostgreSQL database left at an older revision, and a config on it."""
    from tests.serving.cli_helpers import database_behind
    from tests.serving.helpers import fresh_postgres_db

    url = fresh_postgres_db(postgres_server)
    return url, database_behind(tmp_path, url)


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often fusion models were trained and their families generated (both still done)."""
    import welfare.train

    counts = {"trained": 0, "generated": 0}
    for name, key in (("train_models", "trained"), ("synthetic_split", "generated")):
        original = getattr(welfare.train, name)

        def counted(*args: Any, _original: Any = original, _key: str = key, **kwargs: Any) -> Any:
            counts[_key] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(welfare.train, name, counted)
    return counts


@pytest.fixture
def web(tmp_path: Path, fusion_dir: Path) -> Iterator[Service]:
    """A started app on SQLite with one user per role in two regions (tests.serving.helpers
    `started`), assessing with the small fusion model `fusion_dir`
    (tests/web/fusion_model_fixtures.py): the family pages' tests file photos on it."""
    with started(tmp_path, fusion_dir=fusion_dir) as service:
        yield service
