"""Crash safety: SIGKILL a real uvicorn process during uploads, restart, and check that every
acknowledged photo is intact and no partial file is left (bounded rounds and requests)."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.helpers import PASSWORD, ROOT, family_body, jpeg

ROUNDS, UPLOADS_PER_ROUND, KILL_AFTER_ACKS = 2, 24, 5
LAUNCH = (
    "import sys, uvicorn; from pathlib import Path; from serving.app import create_app; "
    "from serving.core.config import load_serving_settings; "
    "uvicorn.run(create_app(load_serving_settings(Path(sys.argv[1]))), host='127.0.0.1', "
    "port=int(sys.argv[2]), log_level='warning')"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(config: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(config), str(port)], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # poll until it answers (bounded)
        if process.poll() is not None:
            raise AssertionError(f"server died at start: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start within 60 s")


def _token(url: str) -> dict[str, str]:
    response = httpx.post(f"{url}/auth/token", data={"username": "inspector", "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _upload_until_killed(url, headers, photos, process) -> list[dict]:
    acked: list[dict] = []
    lock = threading.Lock()

    def worker(chunk: list[bytes]) -> None:
        with httpx.Client(timeout=30) as client:
            for data in chunk:
                try:
                    r = client.post(f"{url}/families/F1/photos", headers=headers,
                                    files={"file": ("p.jpg", data, "image/jpeg")})  # fmt: skip
                except httpx.TransportError:
                    return  # the server is gone: this upload was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acked.append(r.json())
                        if len(acked) == KILL_AFTER_ACKS:
                            process.send_signal(signal.SIGKILL)  # mid-flight for the others

    threads = [threading.Thread(target=worker, args=(photos[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    process.kill()
    process.wait(timeout=30)
    return acked


@pytest.mark.slow
def test_sigkill_during_uploads_loses_no_acknowledged_photo(tmp_path, database_url):
    from serving.core.config import load_serving_settings
    from serving.db.session import make_engine, make_session_factory, session_scope
    from serving.migrations import upgrade
    from serving.users import create_user

    config = tmp_path / "serving.yaml"
    data_dir = tmp_path / "data"
    config.write_text(
        f"data_dir: {data_dir}\ndatabase_url: '{database_url}'\nsecret_key: k" + "x" * 31
    )
    settings = load_serving_settings(config)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    with session_scope(make_session_factory(engine)) as session:
        create_user(
            session, username="inspector", password=PASSWORD, role="inspector", region="shymkent"
        )
    engine.dispose()
    process, url = _start(config)
    headers = _token(url)
    assert httpx.post(f"{url}/families", json=family_body("F1"), headers=headers).status_code == 201
    acknowledged: list[dict] = []
    for round_no in range(ROUNDS):
        photos = [jpeg(1000 * round_no + i, size=(800, 600)) for i in range(UPLOADS_PER_ROUND)]
        acknowledged += _upload_until_killed(url, headers, photos, process)
        process, url = _start(config)  # restart after the crash
        headers = _token(url)
        for photo in acknowledged:
            got = httpx.get(f"{url}/photos/{photo['photo_id']}", headers=headers)
            assert got.status_code == 200 and got.json()["sha256"] == photo["sha256"]
    process.kill()
    process.wait(timeout=30)
    assert len(acknowledged) >= ROUNDS * KILL_AFTER_ACKS
    originals = data_dir / "photos" / "originals"
    files = [p for p in originals.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".incoming-")], "partial file left"
    for path in files:  # every stored file is whole: its content hashes to its name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert {p["sha256"] for p in acknowledged} <= {p.name for p in files}
