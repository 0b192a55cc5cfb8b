"""The demo seeding's scratch copy of its families (demo-source) and what its database holds.

demo-source is only read to upload: `render_source` renders it again when nothing of it was
filed yet, and refuses (DemoSeedMismatchError) a render that differs from the one a seeding
cut short began filing, rather than mix two generations in one demo.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.core.config import ServingSettings
from shanyraq.errors import ShanyraqError

if TYPE_CHECKING:
    from training.synth.families import SyntheticFamilies

logger = logging.getLogger(__name__)

SOURCE = "demo-source"
# A copy of the record (synth.json) of the render families are filed from, beside demo-source:
# what a render is compared with when demo-source was removed after some were filed.
SOURCE_RECORD = "demo-source.json"


class DemoSeedMismatchError(ShanyraqError):
    """The demo's data folder holds a seeding that was cut short with other parameters (its
    --families, or the configs its families were rendered under)."""

    code = "demo_seed_mismatch"


def _scalar(settings: ServingSettings, statement: Any) -> int:
    from serving.db.session import make_engine, make_session_factory, session_scope

    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return int(session.scalar(statement) or 0)
    finally:
        engine.dispose()


def filed_families(settings: ServingSettings) -> int:
    """Families in the demo's database (its own: only the demo's seeding files there)."""
    from sqlalchemy import func, select

    from serving.db.models import Family

    return _scalar(settings, select(func.count(Family.id)))


def stored_photos(settings: ServingSettings, regions: Collection[str]) -> int:
    """Photos stored for the families of `regions`, whichever run uploaded them."""
    from sqlalchemy import func, select

    from serving.db.models import Family, Photo

    statement = (
        select(func.count(Photo.id))
        .join(Family, Family.id == Photo.family_id)
        .where(Family.region.in_(list(regions)))
    )
    return _scalar(settings, statement)


def render_source(
    settings: ServingSettings, families: SyntheticFamilies, *, seed: int, only: Collection[str]
) -> Path:
    """Render the photos of the families `only` names into <data_dir>/demo-source; return it.

    A seeding cut short leaves its render there. Rendered again under the same configs, it
    is the same bytes, so the photos it filed answer 200 (deduplicated by content). When
    configs/synth.yaml, configs/welfare.yaml or the taxonomy changed in between, the render
    differs: with no family filed yet, the old render is replaced (demo-source is scratch);
    with families filed, DemoSeedMismatchError: they would keep their records and photos,
    the new render's photos of them that differ in bytes would be added beside those (no
    deduplication), and one drawn into another region now would be out of its new inspector's
    reach (404), ending the run. The photos filed before are left as they are. demo-source
    removed after families were filed is checked all the same: the record of its render is
    kept beside it (SOURCE_RECORD) and put back in it first.
    """
    from shanyraq.atomic import atomic_file
    from shanyraq.errors import OutputExistsError
    from training.synth.families import write_families
    from training.synth.output import GENERATION_FILE, OutputBusyError

    source, kept = settings.data_dir / SOURCE, settings.data_dir / SOURCE_RECORD
    filed = filed_families(settings)
    if filed and kept.is_file() and not (source / GENERATION_FILE).exists():
        source.mkdir(exist_ok=True)
        (source / GENERATION_FILE).write_bytes(kept.read_bytes())
    try:
        # Only the families uploaded: each photo as the whole generation renders it.
        write_families(
            families, source, seed=seed, render=True, size=512, only=set(only), overwrite=not filed
        )
    except OutputBusyError:
        raise
    except OutputExistsError:
        raise DemoSeedMismatchError(
            f"{source} holds the families a seeding cut short rendered and began to file "
            f"({filed} filed), and configs/synth.yaml, configs/welfare.yaml or the taxonomy "
            "changed since: finishing it now would mix two generations in one demo. Put "
            "those configs back as they were and run `shanyraq demo` again to finish it, or "
            f"remove {settings.data_dir} (the demo's database and accounts; not its models) "
            "to seed the demo afresh"
        ) from None
    with atomic_file(kept) as temporary:
        temporary.write_bytes((source / GENERATION_FILE).read_bytes())
    return source


# The audit's reason when the demo disables an account of a region gone from the configs: it
# enables again only accounts whose last disabling or enabling gave this reason.
REGION_GONE = "its region is no longer in configs/welfare.yaml regions"


def settle_region_accounts(
    settings: ServingSettings, *, roles: Collection[str], config: Path | None = None
) -> None:
    """Disable the demo's regional accounts (`<role>.<region's first word>`, a role of `roles`)
    whose region configs/welfare.yaml no longer lists: unlisted by the demo, with its
    published password, such an account could still sign in and read that region's families.
    Disabled, never deleted (the audit names them), and enabled again once their region is
    back, unless someone disabled them since. Each change is audited and said. `config`: the
    demo's settings file (None: none known), which an `audit verify` an append tells carries,
    so that it checks the demo's log."""
    from sqlalchemy import select

    from serving import audit
    from serving.audit_anchor import anchor_sessions
    from serving.db.models import User
    from serving.db.session import make_engine, make_session_factory, session_scope
    from serving.users import set_active
    from welfare.criteria import get_welfare_config

    regions, key = set(get_welfare_config().regions), settings.signing_key()
    engine = make_engine(settings.resolved_database_url)
    try:
        sessions = make_session_factory(engine)
        anchor_sessions(sessions, settings.resolved_audit_anchor_file, config)
        with session_scope(sessions) as session:
            regional = select(User).where(User.role.in_(list(roles)), User.region.is_not(None))
            for user in session.scalars(regional).all():
                region, name = str(user.region), user.username
                gone = region not in regions
                if name != f"{user.role}.{region.split('_')[0]}" or gone != user.active:
                    continue  # not the demo's, or disabled and gone, or active and listed
                if not gone and _last_reason(session, name) != REGION_GONE:
                    continue  # disabled by someone else: left so
                set_active(user, active=not gone)
                reason = REGION_GONE if gone else "its region is back in configs/welfare.yaml"
                audit.append(
                    session, key, actor="cli", action="user_disabled" if gone else "user_enabled",
                    target=f"user:{name}", details={"changed": True, "reason": reason},
                )  # fmt: skip
                if gone:
                    logger.warning("demo account %s disabled (kept for the audit): %s (%s)",
                                   name, reason, region)  # fmt: skip
                else:
                    logger.warning("demo account %s enabled again: %s (%s)", name, reason, region)
    finally:
        engine.dispose()


def _last_reason(session: Any, username: str) -> object:
    """The reason the last audited disabling or enabling of `username` gave, if any."""
    from sqlalchemy import select

    from serving.db.models import AuditEntry

    details = session.scalar(
        select(AuditEntry.details)
        .where(AuditEntry.target == f"user:{username}")
        .where(AuditEntry.action.in_(["user_disabled", "user_enabled"]))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return details.get("reason") if isinstance(details, dict) else None
