"""Remake docs/images/family-page.png from the real demo models, in a throw-away service.

Usage: .venv/bin/python scripts/screenshots.py [--out docs/images] [--families 72]

Builds the demo (as `shanyraq demo --no-serve`) with its data in a temporary folder, serves
it with uvicorn on 127.0.0.1, picks a family that shows the commission page well (read from
the API as the commission member), and screenshots it in English with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from serving.demo_build import DemoPaths

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
WIDTH_PX = 960
# Doubts that say the photos are missing or unusable: such a page shows the photos poorly.
PHOTO_DOUBTS = {"doubt.too_few_photos", "doubt.flagged_photos", "doubt.reused_photos"}
CONFIDENT = 0.6  # a photo's top condition probability that reads as a clear answer


def seeded_app(paths: DemoPaths, n_families: int) -> tuple[Any, Path, int]:
    """The demo seeded in `paths.data_dir` as `shanyraq demo --no-serve` seeds it, and the app
    that serves it: (app, its settings file, photos uploaded). The settings file is the one the
    demo writes (`demo_settings`), given to the seeding and the app as their --config, so that
    a command they tell (`audit verify`, `users`, `rescore`) names it and, pasted, acts on this
    demo's database rather than the default data folder's."""
    from serving.app import create_app
    from serving.demo import demo_settings, seed_demo

    settings, written = demo_settings(paths)
    config = written.resolve()
    photos = seed_demo(settings, n_families=n_families, config=config)
    return create_app(settings, config=config), config, photos


def serve(app: Any) -> tuple[str, Any, threading.Thread]:
    """uvicorn in a daemon thread on a free port of 127.0.0.1: (url, server, thread)."""
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:  # set once the socket listens
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("the demo server did not start; see the log above")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


Candidate = tuple[tuple[float, ...], str, dict[str, Any]]  # (rank, family id, assessment)


def candidates(url: str, username: str, password: str) -> list[Candidate]:
    """Each family the member sees, ranked: a level, no photo doubts, a confident photo."""
    token = httpx.post(f"{url}/auth/token", data={"username": username, "password": password})
    headers = {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}
    ranked: list[Candidate] = []
    with httpx.Client(base_url=url, headers=headers, timeout=120) as api:
        for family in api.get("/families", params={"limit": 500}).raise_for_status().json():
            family_id = family["family_id"]
            latest = api.get(f"/families/{family_id}/assessments/latest").raise_for_status().json()
            photos = api.get(f"/families/{family_id}/photos").raise_for_status().json()
            usable = [
                p["score"] for p in photos
                if p["score"] and not p["score"]["abstain"]
                and (p["quality"] or {}).get("status") != "fail"
            ]  # fmt: skip
            doubts = {s["code"] for s in latest["result"].get("review_statements") or []}
            confidence = max((max(score["condition"].values()) for score in usable), default=0)
            rank = (
                float(latest["level"] is not None),
                float(not doubts & PHOTO_DOUBTS),
                float(confidence >= CONFIDENT),
                float(min(len(usable), 3)),
                -float(len(photos) > 6),  # keep the page (and the PNG) a readable length
                float(confidence),
            )
            ranked.append((rank, family_id, latest))
    return ranked


def screenshot(url: str, username: str, password: str, family_id: str, path: Path) -> None:
    from playwright.sync_api import FloatRect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": WIDTH_PX, "height": 900}, locale="en-GB")
        page.goto(f"{url}/ui/login?lang=en")
        page.fill("#username", username)
        page.fill("#password", password)
        page.press("#password", "Enter")
        page.wait_for_load_state()
        if "/ui/login" in page.url:
            raise SystemExit(f"{username} could not sign in to the demo")
        page.goto(f"{url}/ui/families?lang=en")
        with page.expect_response(lambda r: r.request.is_navigation_request()) as answer:
            page.click(f"a:text-is('{family_id}')")
        if not answer.value.ok:
            raise SystemExit(f"the page of {family_id} answered {answer.value.status}; see the log")
        # Photos load lazily, i.e. never in a full-page shot unless asked to load now.
        page.evaluate("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
        deadline = time.monotonic() + 60  # polled here: the page's CSP forbids wait_for_function
        while not page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth)"):
            if time.monotonic() > deadline:
                raise SystemExit("the family's photos did not load within 60 s")
            time.sleep(0.1)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Down to the first row of photo cards: the assessment, reasons, rules and two photos
        # with their scores; the rest of the page (more photos, the decision form) repeats.
        bottom = page.evaluate(
            "Math.max(...[...document.querySelectorAll('.photos > *')].slice(0, 2)"
            ".map(c => c.getBoundingClientRect().bottom + window.scrollY), 0)"
        )
        height = page.evaluate("document.documentElement.scrollHeight")
        clip = FloatRect(x=0, y=0, width=WIDTH_PX, height=min(bottom + 16, height) or height)
        page.screenshot(path=str(path), full_page=True, clip=clip)
        browser.close()
    from PIL import Image

    # 256 colours: a third of the bytes, no visible loss at this size (the README loads it).
    Image.open(path).quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument(
        "--families", type=int, default=72, help="Families generated; ~1/5 are in demo regions."
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    for name in ("httpx", "httpx2", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.WARNING)

    from serving.demo import DEMO_PASSWORD, demo_accounts
    from serving.demo_build import DemoPaths

    out = args.out.resolve()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shanyraq-shots-") as tmp:
        paths = DemoPaths(
            model_dir=ROOT / DemoPaths.model_dir,
            fusion_root=ROOT / DemoPaths.fusion_root,
            data_dir=Path(tmp),
        )
        model_json, fusion_json = paths.model_dir / "model.json", paths.fusion_dir / "fusion.json"
        missing = [str(p) for p in (model_json, fusion_json) if not p.exists()]
        if missing:
            sys.exit(f"demo models missing ({', '.join(missing)}): run `make demo` first")
        if not CHROMIUM.exists():
            sys.exit(f"{CHROMIUM} is missing: run `bash scripts/chromium.sh` first")
        app, _, photos = seeded_app(paths, args.families)
        seeded = time.monotonic()
        url, server, thread = serve(app)
        try:
            members = [a for a in demo_accounts() if a.role == "commission"]
            # The best family over both demo regions, with the member who may see it.
            seen = [(c, m) for m in members for c in candidates(url, m.username, DEMO_PASSWORD)]
            (_, family_id, latest), member = max(seen, key=lambda pair: pair[0][0])
            target = out / "family-page.png"
            screenshot(url, member.username, DEMO_PASSWORD, family_id, target)
        finally:
            server.should_exit = True
            thread.join(timeout=30)  # before the temporary folder goes
    summary = [  # the script's output: what a maintainer checks before committing the PNG
        f"seeded {len(seen)} families (of {args.families} generated; two regions kept) "
        f"and {photos} photos in {seeded - started:.0f} s",
        f"{member.username} ({member.region}): family {family_id}, level {latest['level']}, "
        f"ASP {latest['asp']}",
        f"models shown: {latest['model_versions']}",
        f"wrote {target} in {time.monotonic() - started:.0f} s in all",
    ]
    sys.stdout.write("\n".join(summary) + "\n")


if __name__ == "__main__":
    main()
