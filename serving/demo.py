"""The demo: build missing or stale models, seed the embedded service with families, serve.

Everything goes through the public API (sign-in, family records, photo uploads), so the demo
data is validated, scored, stored and audited exactly as field data would be.

A run cut short (Ctrl-C, a crash) is finished by the next one with the same --families: the
accounts and families it filed are kept, photos already filed answer 200, and the rest follow.
Configs changed in between are refused once it filed a family (serving.demo_seed.render_source).
The demo keeps its own data folder, database, key and models: SHANYRAQ_SERVING__ variables
that would point it at a site's are refused (`refuse_site_environment`). The models are built
by serving.demo_build (`ensure_models`, `DemoPaths`).
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.core.config import ServingSettings
from serving.data_dir import make_private_dir
from serving.demo_build import DemoPaths
from serving.demo_seed import DemoSeedMismatchError
from shanyraq.errors import CommandUsageError, ConfigError, ShanyraqError
from shanyraq.shell_words import config_option, word

if TYPE_CHECKING:
    from training.synth.families import SyntheticFamilies

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "shanyraq-demo"  # demo accounts only; the service listens on DEMO_HOST
DEMO_HOST = "127.0.0.1"
DEMO_REGION_COUNT = 2  # the demo fills the first regions of configs/welfare.yaml `regions`
DEMO_ROLES = ("inspector", "commission")
SEED_MARKER = "demo-seeded"
# Written once the accounts exist, before any family: what the run seeds, so that a run cut
# short is finished with the same families, never mixed with another generation.
SEEDING_MARKER = "demo-seeding"
# The settings the demo runs with, written into its data folder for other commands' --config.
DEMO_CONFIG = "serving.yaml"
# Kept out of that copy of configs/serving.yaml: the demo's database gets its own signing key
# and audit anchor in its data folder, never a site's.
SITE_ONLY_KEYS = ("secret_key", "audit_anchor_file")
# Settings whose SHANYRAQ_SERVING__ variable (they win over the demo's file) would take the
# demo to a site's database, key or models: the demo's accounts have a published password.
DEMO_PINNED_KEYS = (
    "data_dir", "database_url", "secret_key", "audit_anchor_file", "model_dir", "fusion_dir",
)  # fmt: skip


class DemoSignInError(ShanyraqError):
    code = "demo_sign_in"  # a demo account could not sign in to file the demo's families


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    region: str | None


def demo_regions() -> list[str]:
    """The regions that get demo families and accounts."""
    from welfare.criteria import get_welfare_config

    return get_welfare_config().regions[:DEMO_REGION_COUNT]


def demo_accounts() -> list[DemoAccount]:
    accounts = [
        DemoAccount(f"{role}.{region.split('_')[0]}", role, region)
        for region in demo_regions()
        for role in DEMO_ROLES
    ]
    return [*accounts, DemoAccount("admin", "admin", None)]


def _family_body(row: dict[str, Any], criteria: list[str]) -> dict[str, Any]:
    def value(name: str) -> Any:
        raw = row.get(name)
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            return None  # missing on purpose: explicit, never filled
        return raw if isinstance(raw, str) else float(raw)

    return {
        "family_id": str(row["family_id"]),
        "region": str(row["region"]),
        "settlement": str(row["settlement"]),
        "head_gender": str(row["head_gender"]),
        "criteria": {name: value(name) for name in criteria},
    }


def demo_families(n_families: int, *, seed: int = 0) -> SyntheticFamilies:
    """The generation seed_demo files, checked before anything is written: refused when no
    family is in the demo's regions, a warning when one gets none (both name a --families)."""
    from training.synth.families import generate_families

    regions, families = demo_regions(), generate_families(max(n_families, 1), seed=seed)
    if empty := [r for r in regions if n_families < 1 or r not in set(families.table["region"])]:
        seen = list(generate_families(max(2 * n_families, 256), seed=seed).table["region"])
        enough = max(seen.index(r) + 1 if r in seen else len(seen) for r in regions)
        said = f"--families {n_families} puts no family in {', '.join(empty)}"
        if len(empty) == len(regions):
            raise CommandUsageError(f"{said}: nothing to seed; use --families {enough} or more")
        logger.warning("%s: its accounts see none; --families %d fills every region", said, enough)
    return families


def _create_accounts(settings: ServingSettings, config: Path | None = None) -> list[str]:
    """Make the demo's accounts that are missing (returned) and disable those of regions gone
    from configs/welfare.yaml (serving.demo_seed.settle_region_accounts). `config`: the demo's
    settings file (None: none known), which the `audit verify` its sealing or appends tell
    carries."""
    from sqlalchemy import select

    from serving.db.models import User
    from serving.db.session import make_engine, make_session_factory, session_scope
    from serving.demo_seed import settle_region_accounts
    from serving.migrations import upgrade
    from serving.users import create_user

    # Sealed as every command that migrates seals it (serving.migrations.upgrade).
    upgrade(settings.resolved_database_url, seal_with=settings.signing_key(), config=config)
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            existing = set(session.scalars(select(User.username)))
            missing = [a for a in demo_accounts() if a.username not in existing]
            for account in missing:  # the rest made by an earlier run
                create_user(
                    session,
                    username=account.username,
                    password=DEMO_PASSWORD,
                    role=account.role,
                    region=account.region,
                )
    finally:
        engine.dispose()
    settle_region_accounts(settings, roles=DEMO_ROLES, config=config)
    return [account.username for account in missing]


def seed_demo(
    settings: ServingSettings, *, n_families: int = 12, seed: int = 0, config: Path | None = None
) -> int:
    """Create demo accounts and families with photos; returns photos uploaded by this run (0
    if seeded). The marker it ends with counts the demo's photos, a run cut short's with them.
    `config`: the demo's settings file (`demo_settings`; None: none known), which every command
    the seeding tells carries as --config (the `audit verify` of its sealing and appends, the
    `users` that bring back an account that cannot sign in, the `rescore` of photos scored by
    another model), so that pasted they act on this demo; none where None."""
    from fastapi.testclient import TestClient
    from tqdm import tqdm

    from serving.app import create_app
    from serving.demo_seed import render_source, stored_photos
    from shanyraq.manifest import read_manifest
    from welfare.criteria import get_welfare_config

    marker = settings.data_dir / SEED_MARKER
    if marker.exists():
        logger.info("demo data already in %s", settings.data_dir)
        if made := _create_accounts(settings, config):  # demo regions changed since seeded
            logger.warning(
                "made the demo accounts %s: their regions have no demo families (configs/"
                "welfare.yaml regions changed since the seeding); remove %s to seed them",
                ", ".join(made), settings.data_dir,
            )  # fmt: skip
        _say_other_photo_models(settings, config)
        return 0
    plan = f"families={n_families} seed={seed}\n"
    started = settings.data_dir / SEEDING_MARKER
    if started.exists() and started.read_text() != plan:
        raise DemoSeedMismatchError(
            f"{settings.data_dir} holds a demo whose seeding was cut short "
            f"({started.read_text().strip()}), not {plan.strip()}: run `shanyraq demo` with "
            f"that --families to finish it, or remove {settings.data_dir} to start again"
        )
    families = demo_families(n_families, seed=seed)  # refused before anything is written
    _create_accounts(settings, config)
    make_private_dir(settings.data_dir)
    started.write_text(plan)
    table = families.table[families.table["region"].isin(demo_regions())]
    source = render_source(settings, families, seed=seed, only=set(table["family_id"]))
    manifest = read_manifest(source / "manifest.csv")
    photos_of: dict[str, list[Path]] = defaultdict(list)
    for photo in manifest:
        photos_of[photo.family_id].append(photo.resolve(manifest.root))
    criteria = get_welfare_config().criterion_names
    uploaded = 0
    seeding = _seeding_settings(settings, n_uploads=sum(map(len, photos_of.values())))
    with TestClient(create_app(seeding, config)) as client:
        for region in demo_regions():
            inspector = f"inspector.{region.split('_')[0]}"
            answer = client.post(
                "/auth/token", data={"username": inspector, "password": DEMO_PASSWORD}
            )
            if answer.status_code != 200:  # a password or account changed, a limit met
                raise DemoSignInError(
                    f"demo account {inspector} cannot sign in: HTTP {answer.status_code} "
                    f"{answer.text}; {_sign_in_again(inspector, config)}, or remove "
                    f"{settings.data_dir} to start the demo again"
                )
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            rows = table[table["region"] == region].to_dict("records")
            for row in tqdm(rows, desc=f"demo families, {region}", unit="family"):
                response = client.post(
                    "/families", json=_family_body(row, criteria), headers=headers
                )
                if not _filed_before(response):
                    response.raise_for_status()
                family_id = str(row["family_id"])
                uploaded += _upload_photos(client, headers, photos_of[family_id], family_id)
                # Assess once now, so the commission's list shows levels from the start.
                client.post(
                    f"/families/{family_id}/assessments", headers=headers
                ).raise_for_status()
    photos = stored_photos(settings, demo_regions())
    marker.write_text(f"families={len(table)} photos={photos} seed={seed}\n")
    started.unlink()
    return uploaded


def _sign_in_again(username: str, config: Path | None) -> str:
    """What brings the demo account `username` back, told with the --config `config` the demo
    was given (`seed_demo`'s; None: none), so that pasted it acts on the demo's database."""
    name, given = word(username), config_option(config)
    return (
        f"`shanyraq users set-password {name}{given}` ({DEMO_PASSWORD!r}) or, for a disabled "
        f"account, `shanyraq users enable {name}{given}` brings it back"
    )


def _seeding_settings(settings: ServingSettings, *, n_uploads: int) -> ServingSettings:
    """The settings the seeding's app runs with: the service's (its photo model, engine and
    batching, so photos are scored as the demo then serves them), with room for the demo's
    sign-ins and `n_uploads` photo uploads a minute: under field accounts' limits, uploads past
    it would be refused (429), skipped, and the demo marked seeded without them."""
    limits = settings.rate_limits
    least = {"upload_per_minute": n_uploads, "login_per_minute": DEMO_REGION_COUNT}
    raised = limits.model_copy(update={k: max(v, getattr(limits, k)) for k, v in least.items()})
    return settings.model_copy(update={"rate_limits": raised})


def _say_other_photo_models(settings: ServingSettings, config: Path | None) -> None:
    """Warn when stored photos carry scores of a photo model other than the one the demo
    loads (rebuilt since the seeding): they keep them, named as that model's on the pages,
    until `rescore` and `rescore promote` adopt the loaded model's. The commands told carry
    the --config `config` the demo was given (`seed_demo`'s; None: none)."""
    from sqlalchemy import select

    from serving.db.models import Photo
    from serving.db.session import make_engine, make_session_factory, session_scope
    from vision.artifact import read_artifact

    model_dir = settings.model_dir
    if model_dir is None or not (model_dir / "model.json").exists():
        return
    loaded = read_artifact(model_dir).model_version
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            stored = session.scalars(select(Photo.model_version).distinct())
            others = sorted(v for v in stored if v is not None and v != loaded)
    finally:
        engine.dispose()
    if others:  # the folders as words of the commands, quoted where a shell needs it
        model, given = word(model_dir), config_option(config)
        logger.warning(
            "the demo's photos were scored by the photo model %s, not %s loaded now: the pages "
            "show them as that model's scores; to score them with %s, run `shanyraq rescore "
            "--model %s%s`, then `shanyraq rescore promote --model %s --reassess --as admin%s`",
            ", ".join(others), loaded, loaded, model, given, model, given,
        )  # fmt: skip


def _filed_before(response: Any) -> bool:
    """Whether a family's creation was refused because a run cut short filed it already."""
    return bool(response.status_code == 409 and response.json().get("code") == "conflict")


def _upload_photos(client: Any, headers: dict[str, str], photos: list[Path], family_id: str) -> int:
    count = 0
    for path in photos:
        response = client.post(
            f"/families/{family_id}/photos",
            files={"file": (path.name, path.read_bytes(), "image/jpeg")},
            headers=headers,
        )
        if response.status_code >= 400:
            logger.warning("demo photo %s refused: %s", path, response.text)
            continue
        count += response.status_code == 201  # 200: filed by a run cut short
    return count


def write_demo_settings(paths: DemoPaths, *, port: int | None = None) -> Path:
    """Write the settings the demo serves with to <data_dir>/serving.yaml; return its path.

    configs/serving.yaml with the demo's data folder and models, as absolute paths, so that
    `--config` on it points `audit verify`, `users`, `rescore` and `assessments refresh` (run
    from any folder) at the demo's database and models. Rewritten at every start, so it
    follows configs/serving.yaml.
    """
    import yaml

    from shanyraq.atomic import atomic_file
    from shanyraq.config import default_configs_dir, read_yaml

    shipped = default_configs_dir() / "serving.yaml"
    data = read_yaml(shipped) if shipped.exists() else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{shipped}: expected a mapping of keys at the top level")
    data = {k: v for k, v in data.items() if k not in SITE_ONLY_KEYS}
    data |= {"host": DEMO_HOST} | ({} if port is None else {"port": port})
    data |= {
        "data_dir": str(paths.data_dir.resolve()),
        "database_url": "",
        "model_dir": str(paths.model_dir.resolve()),
        "fusion_dir": str(paths.fusion_dir.resolve()),
    }
    path = paths.data_dir / DEMO_CONFIG
    make_private_dir(path.parent)  # the first thing made in the demo's data folder
    header = (
        "# Written by `shanyraq demo` at every start: the settings the demo serves with, from\n"
        f"# {shipped}. Pass it as --config to commands that work on the demo's database.\n"
    )
    with atomic_file(path) as temporary:
        temporary.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def settings_line(config: Path) -> str:
    """What `shanyraq demo` prints of its settings file (`config`, as `demo_settings` gave it,
    relative to where the demo runs): the absolute path, quoted as one word of a command, since
    the --config it tells works from any folder only so."""
    where = word(config.resolve())
    return (
        f"its settings: {where}; pass --config {where} to audit verify, users, rescore, "
        "assessments refresh and serve, from any folder, to work on this demo"
    )


def refuse_site_environment() -> None:
    """ConfigError when a SHANYRAQ_SERVING__ variable sets one of DEMO_PINNED_KEYS: it would
    win over the demo's settings and seed the demo's accounts, whose password is published,
    into that database (or sign them with that key, or serve other models)."""
    pinned = {f"SHANYRAQ_SERVING__{key}".upper() for key in DEMO_PINNED_KEYS}
    found = sorted(name for name in os.environ if name.upper() in pinned)
    if found:
        raise ConfigError(
            f"{', '.join(found)} set: the demo would use it instead of its own data folder, "
            f"database, key and models, and add accounts with the password {DEMO_PASSWORD!r} "
            f"there; run the demo without it (e.g. `env -u {found[0]} shanyraq demo`)"
        )


def demo_settings(paths: DemoPaths, *, port: int | None = None) -> tuple[ServingSettings, Path]:
    """The demo's settings, read back from the file `write_demo_settings` wrote, and its path;
    refused under variables that would replace them (`refuse_site_environment`)."""
    from serving.core.config import load_serving_settings

    refuse_site_environment()
    path = write_demo_settings(paths, port=port)
    return load_serving_settings(path), path
