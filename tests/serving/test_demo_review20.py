"""Review 20 of the demo's seeding (helper-318): it renders only the photos it files (the
same ones as before), closes the engine it makes accounts with, and seals the audit head when
it migrates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

import serving.db.session as db_session
from serving import audit
from serving.db.models import AuditHead
from serving.demo import _create_accounts, demo_regions, seed_demo
from shanyraq.manifest import read_manifest
from tests.serving.audit_helpers import log_before_0003
from tests.serving.helpers import make_settings
from tests.web.demo_helpers import demo_filed
from training.synth.families import generate_families, write_families

# 10 families of seed 1: 3 in the demo regions (17 photos), 60 photos in all, drawn in this
# process (under 64: one worker).
N_FAMILIES, SEED = 10, 1


def test_the_demo_renders_the_photos_it_files_and_the_same_ones_as_before(tmp_path):
    # Before: write_families rendered the photos of every family, all regions', and only the
    # demo regions' families were filed: about nine photos in ten were drawn for nothing.
    families = generate_families(N_FAMILIES, seed=SEED)
    table = families.table
    kept = set(table.loc[table["region"].isin(demo_regions()), "family_id"])
    assert kept and len(kept) < len(table)
    whole = write_families(families, tmp_path / "whole", seed=SEED, render=True, size=512)
    expected = {
        (row.family_id, row.path, row.sha256)
        for row in read_manifest(whole.parent / "manifest.csv")
        if row.family_id in kept
    }
    assert expected

    settings = make_settings(tmp_path, "")
    assert seed_demo(settings, n_families=N_FAMILIES, seed=SEED) == len(expected)
    source = settings.data_dir / "demo-source"
    drawn = {
        (row.family_id, row.path, row.sha256) for row in read_manifest(source / "manifest.csv")
    }
    assert drawn == expected  # the same photos, byte for byte, and no other region's
    on_disk = {f"photos/{file.name}" for file in (source / "photos").iterdir()}
    assert on_disk == {path for _, path, _ in expected}
    _, stored, regions = demo_filed(settings)
    assert set(regions) == kept
    assert stored == {(family_id, sha256) for family_id, _, sha256 in expected}


def test_making_the_demo_accounts_leaves_no_connection_open(tmp_path, monkeypatch):
    # Before: the engine _create_accounts made was never disposed: its SQLite connection
    # stayed open, back in the pool, until the engine was garbage-collected.
    made: list[Any] = []
    make_engine = db_session.make_engine

    def recorded(*args: Any, **kwargs: Any) -> Any:
        made.append(make_engine(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(db_session, "make_engine", recorded)
    _create_accounts(make_settings(tmp_path, ""))
    assert made
    for engine in made:
        assert (engine.pool.checkedin(), engine.pool.checkedout()) == (0, 0)


def test_the_demo_seals_the_audit_head_of_a_database_it_migrates(tmp_path):
    # Before: _create_accounts migrated past 0003 without the key, leaving the head without
    # a MAC (`audit verify` reports it; a tail cut with the head rolled back goes unseen).
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = make_settings(tmp_path, url)
    key = settings.signing_key()
    log_before_0003(url, key, 2)
    _create_accounts(settings)
    engine = db_session.make_engine(url)
    try:
        with db_session.session_scope(db_session.make_session_factory(engine)) as session:
            head = session.scalars(select(AuditHead)).one()
            assert head.seq == 2
            assert head.mac == audit.head_mac(key, seq=head.seq, hash=head.hash)
            assert audit.verify(session, key).ok
    finally:
        engine.dispose()
