"""Helpers of the service tests: settings, users of every role in two regions, families, photos,
what a service has filed and audited, and a photo model that hangs."""

from __future__ import annotations

import functools
import io
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

ROOT = Path(__file__).resolve().parents[2]
REGION, OTHER_REGION = "shymkent", "astana"
ROLES = ("inspector", "annotator", "commission", "admin")
PASSWORD = "correct horse battery"
_db_counter = itertools.count()


def new_database_name() -> str:
    """A name no other database of this test process's PostgreSQL server has."""
    return f"t{os.getpid()}_{next(_db_counter)}"


def fresh_postgres_db(server_url: str) -> str:
    import psycopg

    name = new_database_name()
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def cheap_hasher() -> Any:
    """An Argon2 hasher at its lowest cost, for tests to put in place of the service's
    (`serving.core.security._HASHER`); production keeps the library's defaults."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def make_settings(tmp_path: Path, database_url: str, **overrides: Any):  # type: ignore[no-untyped-def]
    from serving.core.config import load_serving_settings

    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": "test-secret-key-0123456789abcdef",
        "model_dir": None,
        "fusion_dir": None,
        # Starlette's TestClient reports this client name; the shipped list is loopback only.
        "metrics_allowed_clients": ["127.0.0.1", "::1", "testclient"],
    }
    values.update(overrides)
    return load_serving_settings(**values)


def serving_yaml(path: Path, tmp_path: Path, database_url: str, *, fusion_dir: Path | str) -> Path:
    """serving.yaml at `path` for a command on the database, data folder and signing key of
    `make_settings(tmp_path, database_url)`, with `fusion_dir` ("": none) and no photo model."""
    import yaml

    values = {
        "data_dir": str(tmp_path / "data"), "database_url": database_url,
        "secret_key": "test-secret-key-0123456789abcdef", "model_dir": "",
        "fusion_dir": str(fusion_dir),
    }  # fmt: skip
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def criteria(**given: float | str | None) -> dict[str, float | str | None]:
    from welfare.criteria import get_welfare_config

    values: dict[str, float | str | None] = {c.name: None for c in get_welfare_config().criteria}
    values.update({"members_total": 4.0, "per_capita_income_kzt": 25000.0})
    values.update(given)
    return values


def family_body(family_id: str, region: str = REGION) -> dict[str, Any]:
    return {
        "family_id": family_id,
        "region": region,
        "settlement": "urban",
        "head_gender": "female",
        "criteria": criteria(),
    }


def jpeg(seed: int = 0, size: tuple[int, int] = (640, 480), **save: Any) -> bytes:
    """A textured photo-like JPEG (passes the quality gate: sharp, mid-grey). The same
    arguments give the same bytes, kept for the process (18 ms of CPU to make at 640x480, and
    the tests ask for the same photos many times over); arguments that cannot be a key (a
    mutable `save` value) make it anew."""
    key = (seed, tuple(size), tuple(sorted(save.items())))
    try:
        return _kept_jpeg(key)
    except TypeError:  # unhashable: not kept
        return _made_jpeg(seed, size, **save)


@functools.lru_cache(maxsize=256)
def _kept_jpeg(key: tuple[Any, ...]) -> bytes:
    seed, size, save = key
    return _made_jpeg(seed, size, **dict(save))


def _made_jpeg(seed: int, size: tuple[int, int], **save: Any) -> bytes:
    rng = np.random.default_rng(seed)
    width, height = size
    base = rng.integers(40, 210, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    pixels = np.kron(base, np.ones((16, 16, 1), dtype=np.uint8))[:height, :width]
    noise = rng.integers(-20, 20, size=pixels.shape)
    pixels = np.clip(pixels.astype(int) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, **save)
    return buffer.getvalue()


@dataclass
class Service:
    """A running app (TestClient) with one user per role in REGION, others in OTHER_REGION."""

    client: Any
    app: Any
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def sign_in(self, who: str) -> str:
        """A new token for `who` through the login route (the shared one is left as it is)."""
        response = self.client.post("/auth/token", data={"username": who, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    @property
    def services(self) -> Any:
        return self.app.state.services

    def create_family(self, family_id: str, *, region: str = REGION) -> dict[str, Any]:
        who = "admin_national" if region != REGION else "inspector"
        response = self.client.post(
            "/families", json=family_body(family_id, region), headers=self.headers(who)
        )
        assert response.status_code == 201, response.text
        return response.json()

    def assess(self, family_id: str, *, who: str = "commission") -> dict[str, Any]:
        """A new assessment of the family, made by `who` (a commission member unless named;
        201 asserted)."""
        response = self.client.post(f"/families/{family_id}/assessments", headers=self.headers(who))
        assert response.status_code == 201, response.text
        return dict(response.json())

    def upload(self, family_id: str, photo: bytes, *, who: str = "inspector", **kw: Any) -> Any:
        return self.client.post(
            f"/families/{family_id}/photos",
            files={"file": ("photo.jpg", photo, "image/jpeg")},
            headers={**self.headers(who), **kw.pop("headers", {})},
            **kw,
        )


@contextmanager
def started(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Iterator[Service]:
    """A started app (lifespan run) on `database_url` (by default SQLite in `tmp_path`, already
    migrated: tests/serving/migrated_sqlite.py) with settings `overrides`, and one user per
    role in REGION and in OTHER_REGION."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from tests.serving.migrated_sqlite import migrated_sqlite

    url = database_url or migrated_sqlite(tmp_path / "web.db")
    app = create_app(make_settings(tmp_path, url, **overrides))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Service(client=client, app=app, tokens=seed_users(app))


def seed_users(app: Any) -> dict[str, str]:
    from serving.core.security import create_token
    from serving.db.session import session_scope
    from serving.users import create_user

    services = app.state.services
    tokens: dict[str, str] = {}
    wanted = [(role, role, REGION) for role in ROLES] + [
        (f"{role}_other", role, OTHER_REGION) for role in ("inspector", "commission")
    ]
    wanted.append(("admin_national", "admin", None))
    with session_scope(services.sessions) as session:
        for name, role, region in wanted:
            user = create_user(session, username=name, password=PASSWORD, role=role, region=region)
            tokens[name] = create_token(
                user_id=user.id, username=name, role=role, region=region,
                key=services.signing_key, ttl_s=600,
            )  # fmt: skip
    return tokens


def photo_rows(service: Service) -> int:
    """How many photos the service's database holds."""
    from sqlalchemy import func, select

    from serving.db.models import Photo

    with service.services.sessions() as session:
        return int(session.execute(select(func.count()).select_from(Photo)).scalar_one())


def stored_files(service: Service) -> list[Path]:
    """The photo files in the service's store."""
    return [p for p in service.services.store.originals.rglob("*") if p.is_file()]


def audit_entries(service: Service, action: str | None = None) -> list[Any]:
    """The service's audit entries (serving.db.models.AuditEntry) of `action`, or all of them
    when none is named; oldest first."""
    from sqlalchemy import select

    from serving.db.models import AuditEntry

    statement = select(AuditEntry).order_by(AuditEntry.seq)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    with service.services.sessions() as session:
        return list(session.execute(statement).scalars())


def nothing_filed(service: Service) -> bool:
    """Whether the service has filed no photo: no row, no stored file, no upload audited."""
    return (
        photo_rows(service) == 0
        and stored_files(service) == []
        and not audit_entries(service, "photo_uploaded")
    )


def small_fusion_model(folder: Path, name: str = "lgbm_tabular", *, seed: int = 0) -> Path:
    """A small real fusion model `name` in `folder` (LightGBM, 40 trees, 400 families
    generated from `seed`: another seed, another model version); the model's folder. Trained
    once per process for the same name, seed, configs and code version (about 4 s), and copied
    into a `folder` not made yet or empty after that (tests/made_once.py)."""
    from tests.made_once import inputs_digest, made_once
    from welfare.criteria import get_welfare_config
    from welfare.train import train_models

    config = get_welfare_config()
    small = config.fusion.lightgbm.model_copy(update={"n_estimators": 40})
    config = config.model_copy(
        update={"fusion": config.fusion.model_copy(update={"lightgbm": small})}
    )

    def train(into: Path) -> None:
        train_models(into, n=400, seed=seed, names=[name], config=config)

    made_once("small-fusion", inputs_digest(name, seed, config.digest()), folder, train)
    return folder / name


def free_port() -> int:
    """A port nothing listens on now on 127.0.0.1 (for `serve`, which checks its port)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def waiting_on_a_lock(service: Any) -> bool:
    """Whether a connection to this test's PostgreSQL database waits for a lock (a row's)."""
    from sqlalchemy import text

    from serving.db.session import session_scope

    with session_scope(service.services.sessions) as session:
        return bool(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


HUNG_CALL_BOUND_S = 20.0  # the longest a hung model call waits if its test never releases it


class HungCall:
    """A model call that hangs until `release` is set, then answers with `answer`: `started`
    is set when a call begins, and `calls` counts the calls begun."""

    def __init__(self, answer: Callable[..., Any]) -> None:
        self.answer = answer
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.calls += 1
        self.started.set()
        self.release.wait(HUNG_CALL_BOUND_S)
        return self.answer(*args, **kwargs)


@contextmanager
def hung_model(service: Service, monkeypatch: Any) -> Iterator[HungCall]:
    """The service's photo model hangs in the block: each call waits until the block ends,
    then answers as the real model. The real call is not put back (a later call passes
    through at once; `monkeypatch` puts it back when the test ends). The block ends once the
    released calls have returned (the batcher's or the model threads' `wait_until_idle`): an
    upload sent just after a released call, before its thread had returned, was refused "not
    answering" on a loaded machine."""
    pipeline = service.services.pipeline
    hung = HungCall(pipeline.engine.score_inputs)
    monkeypatch.setattr(pipeline.engine, "score_inputs", hung)
    try:
        yield hung
    finally:
        hung.release.set()
        calls = pipeline._batcher or pipeline._calls
        if calls is not None:
            calls.wait_until_idle(HUNG_CALL_BOUND_S)


class HungEngine:
    """A stand-in for the photo engine (no ONNX, no GPU) whose calls hang until `release` is
    set, then score every photo: `batches` holds the size of each call begun, `called` is set
    once `signal_after` calls have begun, and `returned` once a call has returned."""

    artifact = SimpleNamespace(preprocessing=SimpleNamespace(size=32))
    model_version = "hung-test"

    def __init__(self, *, signal_after: int = 1) -> None:
        self.release = threading.Event()
        self.called = threading.Event()
        self.returned = threading.Event()
        self.batches: list[int] = []
        self._signal_after = signal_after
        self._lock = threading.Lock()

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        return np.zeros((3, 32, 32), np.float32)

    def score_inputs(self, inputs: np.ndarray, *, sha256s: list[str], quality: Any = None) -> Any:
        with self._lock:
            self.batches.append(len(sha256s))
            if len(self.batches) == self._signal_after:
                self.called.set()
        self.release.wait(HUNG_CALL_BOUND_S)
        self.returned.set()
        return [SimpleNamespace(photo_sha256=sha) for sha in sha256s]
