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
    reach (404), ending the run. The photos filed before are left as they are.
    """
    from shanyraq.errors import OutputExistsError
    from training.synth.families import write_families
    from training.synth.output import OutputBusyError

    source = settings.data_dir / SOURCE
    filed = filed_families(settings)
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
    return source
