"""Crash safety: SIGKILL a real `shanyraq serve` process during uploads, restart, and check that
every acknowledged photo is intact and no partial file is left (bounded rounds and requests)."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.serving.helpers import PASSWORD, family_body, jpeg
from tests.serving.subprocess_runs import start_serve

ROUNDS, UPLOADS_PER_ROUND, KILL_AFTER_ACKS = 2, 24, 5
SECRET_KEY = "k" + "x" * 31


def _start(tmp_path: Path, database_url: str) -> tuple[subprocess.Popen[str], str]:
    """`shanyraq serve` on the test's database and data folder (warnings only in its log, which
    nobody reads while it runs), once it answers: (the process, its address)."""
    process, port = start_serve(
        tmp_path, database_url=database_url, secret_key=SECRET_KEY, log_level="warning"
    )
    return process, f"http://127.0.0.1:{port}"


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
    from serving.db.session import make_engine, make_session_factory, session_scope
    from serving.migrations import upgrade
    from serving.users import create_user

    data_dir = tmp_path / "data"  # start_serve's
    upgrade(database_url)
    engine = make_engine(database_url)
    with session_scope(make_session_factory(engine)) as session:
        create_user(
            session, username="inspector", password=PASSWORD, role="inspector", region="shymkent"
        )
    engine.dispose()
    process, url = _start(tmp_path, database_url)
    headers = _token(url)
    assert httpx.post(f"{url}/families", json=family_body("F1"), headers=headers).status_code == 201
    acknowledged: list[dict] = []
    for round_no in range(ROUNDS):
        photos = [jpeg(1000 * round_no + i, size=(800, 600)) for i in range(UPLOADS_PER_ROUND)]
        acknowledged += _upload_until_killed(url, headers, photos, process)
        process, url = _start(tmp_path, database_url)  # restart after the crash
        headers = _token(url)
        with httpx.Client(base_url=url, headers=headers) as client:  # one, not one a photo
            for photo in acknowledged:
                got = client.get(f"/photos/{photo['photo_id']}")
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
