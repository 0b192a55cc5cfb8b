"""`shanyraq store sweep` without --apply: the originals an interrupted sweep left set
aside are counted, and judged as --apply finds them once it put them back, so the dry run lists
what --apply then removes."""

from __future__ import annotations

from typer.testing import CliRunner

from serving import store_sweep
from serving.store_sweep_cli import app as store_app
from tests.serving.helpers import Service, jpeg
from tests.serving.sweep_helpers import age


def _filed(service: Service, seed: int) -> str:
    """A photo with a row (so that --apply does not take the database for another's)."""
    service.create_family("F1")
    return service.upload("F1", jpeg(seed)).json()["sha256"]


def _left_set_aside(service: Service, seed: int, *, hours: float = 48) -> tuple[str, int]:
    """A photo file with no row, `hours` old, that a sweep set aside and then stopped (after
    step 2): (sha256, its size)."""
    store = service.services.store
    stored = store.put(jpeg(seed))
    age(stored.path, hours)
    assert store.set_aside(stored.sha256) is not None
    assert not stored.path.exists()
    return stored.sha256, stored.size_bytes


def _sweep(config, *args: str) -> str:
    result = CliRunner().invoke(store_app, ["sweep", *args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_dry_run_lists_an_orphan_left_set_aside_as_apply_then_removes_it(service, config):
    """Before: the dry run found no orphan (`found 0`), then --apply put the file back and
    removed it (`removed 1`)."""
    store = service.services.store
    _filed(service, 61)
    sha256, size = _left_set_aside(service, 62)
    aside = list(store.originals.rglob(".sweeping-*"))
    dry = _sweep(config)
    assert "--apply will first put back 1 photo file(s) an interrupted sweep left aside" in dry
    assert sha256 in dry and f"older than 24 h: 1 ({size} bytes)" in dry, dry
    assert "48 h old  (original)" in dry  # its own mtime, kept by the rename
    assert list(store.originals.rglob(".sweeping-*")) == aside  # the dry run moved nothing
    assert not store.path_for(sha256).exists()
    applied = _sweep(config, "--apply")
    assert "put back 1 photo file(s)" in applied and f"removed 1 ({size} bytes)" in applied
    assert not store.path_for(sha256).exists()
    assert list(store.originals.rglob(".sweeping-*")) == []


def test_the_dry_run_counts_but_does_not_list_what_apply_puts_back_and_keeps(service, config):
    """Set aside, then a row committed (a photo of a family), or stored again since: --apply
    puts it back and keeps it; the dry run counts both and lists neither."""
    store = service.services.store
    filed = _filed(service, 63)
    age(store.path_for(filed), 48)
    assert store.set_aside(filed) is not None
    stored_again, _ = _left_set_aside(service, 64)
    assert store.put(jpeg(64)).created  # an upload wrote it again: a fresh file
    dry = _sweep(config)
    assert "--apply will first put back 2 photo file(s)" in dry, dry
    assert "older than 24 h: 0 (0 bytes)" in dry
    assert filed not in dry and stored_again not in dry
    applied = _sweep(config, "--apply")
    assert "put back 2 photo file(s)" in applied and "removed 0" in applied, applied
    assert store.verify(filed) and store.verify(stored_again)


def test_the_library_dry_run_reports_the_count_and_writes_nothing(service):
    store = service.services.store
    sha256, _ = _left_set_aside(service, 65, hours=0)  # within the grace: counted, not listed
    before = sorted(path.name for path in store.originals.rglob("*"))
    services = service.services
    report = store_sweep.sweep(store, services.readers, grace_hours=24)
    assert (report.restored, report.orphans, report.applied) == (1, (), False)
    assert sorted(path.name for path in store.originals.rglob("*")) == before
    assert not store.path_for(sha256).exists()
