"""A real server for browser tests: uvicorn in a thread on 127.0.0.1, seeded through the API."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.serving.helpers import OTHER_REGION, REGION, ROOT, family_body, seed_users
from tests.web.helpers import blurred_photo, encode_jpeg, home_photo

START_TIMEOUT_S = 60.0
CHROMIUM = Path("/usr/bin/chromium")
# Flags for a quiet, reproducible headless Chromium that reaches nothing outside the machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> str | None:
    """None when /usr/bin/chromium is ready (installed by scripts/chromium.sh); else why not."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "chromium.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode == 3:
        return f"Chromium cannot be installed here: {result.stderr.strip()}"
    assert result.returncode == 0, f"chromium.sh failed:\n{result.stderr}"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: Any
    tokens: dict[str, str]
    server: Any
    thread: threading.Thread
    seeded: dict[str, Any] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)  # by token: `api`

    def api(self, who: str) -> httpx.Client:
        """The API as `who` (their token now): one client per token, its connections kept
        until `stop` closes it (a client made per call was left for the garbage collector,
        its socket open until then)."""
        token = self.tokens[who]
        if token not in self.clients:
            self.clients[token] = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
        return self.clients[token]

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start(settings: Any) -> LiveServer:
    """Start the app under uvicorn and wait (bounded) until it serves; users are seeded."""
    import uvicorn

    from serving.app import create_app

    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:  # readiness: uvicorn sets this once the socket listens
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped during start-up; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the server did not start within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", app, seed_users(app), server, thread)


def _upload(client: httpx.Client, family_id: str, photo: bytes, room: str | None) -> dict:
    data = {"room_hint": room} if room else {}
    answer = client.post(
        f"/families/{family_id}/photos", files={"file": ("p.jpg", photo)}, data=data
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def seed(live: LiveServer) -> dict[str, Any]:
    """Families with photos (good, blurred, reused), another region's family, decisions."""
    inspector, national = live.api("inspector"), live.api("admin_national")
    for family_id in ("F-101", "F-102", "F-103"):
        assert inspector.post("/families", json=family_body(family_id)).status_code == 201
    assert national.post("/families", json=family_body("F-201", OTHER_REGION)).status_code == 201
    kitchen = home_photo(1, room="kitchen", condition=2, signs=("damp_mould",))
    photos = [
        _upload(inspector, "F-101", kitchen, "kitchen"),
        _upload(
            inspector,
            "F-101",
            home_photo(
                2, room="bedroom", condition=1, signs=("structural_damage", "broken_window")
            ),
            "bedroom",
        ),
        _upload(
            inspector,
            "F-101",
            home_photo(3, room="living_room", condition=3, signs=("overcrowding",)),
            "living_room",
        ),
    ]
    # The same kitchen, re-encoded: a near-identical photo filed for another family.
    from vision.io import decode_image

    copy = encode_jpeg(decode_image(kitchen, max_pixels=10**8).pixels, quality=75)
    _upload(inspector, "F-102", copy, "kitchen")
    _upload(inspector, "F-102", blurred_photo(4), None)
    _upload(live.api("admin_national"), "F-201", home_photo(5), "kitchen")
    commission = live.api("commission")
    for family_id, body in (
        (
            "F-102",
            {
                "kind": "override",
                "level": 3,
                "reason_code": "photos_not_representative",
                "reason": "One photo belongs to another family's file.",
            },
        ),
        ("F-103", {"kind": "accept"}),
    ):
        latest = commission.get(f"/families/{family_id}/assessments/latest").json()
        if body["kind"] == "override" and latest["level"] == body["level"]:
            body = {**body, "level": 6 - latest["level"] % 6}
        if body["kind"] == "accept" and latest["level"] is None:
            body = {
                "kind": "override",
                "level": 2,
                "reason_code": "other",
                "reason": "The system gave no level; decided on the record.",
            }
        answer = commission.post(f"/assessments/{latest['assessment_id']}/decisions", json=body)
        assert answer.status_code == 201, answer.text
    return {"kitchen_photo_id": photos[0]["photo_id"], "region": REGION}
