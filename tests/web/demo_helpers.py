"""What the family demo filed: its source manifest's photos of the families it filed, the
photos in its database, and each family's region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from serving.db.models import Family, Photo
from serving.db.session import make_engine, make_session_factory, session_scope


def demo_filed(settings: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]], dict[str, str]]:
    """The demo's (family, photo sha256) pairs: in its source manifest for the families it
    filed, and in its database; and the region of each family filed."""
    from shanyraq.manifest import read_manifest

    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            families = {f: r for f, r in session.execute(select(Family.id, Family.region))}
            stored = {(f, s) for f, s in session.execute(select(Photo.family_id, Photo.sha256))}
            assert session.scalar(select(func.count(Photo.id))) == len(stored)
    finally:
        engine.dispose()
    manifest = read_manifest(Path(settings.data_dir) / "demo-source" / "manifest.csv")
    planned = {(p.family_id, p.sha256) for p in manifest if p.family_id in families}
    return planned, stored, families
