"""Heat-map cache, review 21: a cache folder the service cannot list (made by another user,
0700 as every cache folder is, or a disk error) is logged at start-up, never raised: the
service starts anyway, as prune_cache promises, and the other folders are still cleaned."""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any

import pytest

from serving.web import heatmap_cache, heatmaps
from tests.web.heatmap_helpers import SHA, cache_services, overlay
from vision.explain import OVERLAY_SCALE


def _unlistable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """`folder` cannot be listed, as a 0700 folder of another user cannot (the tests may run
    as root, whom file modes do not stop, so the system's answer is given here)."""
    iterdir = Path.iterdir

    def listing(self: Path) -> Any:
        if self == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", listing)


def test_a_current_folder_that_cannot_be_listed_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    data_dir = tmp_path / "data"
    services = cache_services(data_dir, "v1")
    cache = data_dir / "heatmaps"
    current = overlay(heatmap_cache.cache_path(services, sha256=SHA, sign="roof_leak"))
    old = overlay(cache / "v2" / OVERLAY_SCALE / "ab" / f"{SHA}-roof_leak.png")
    _unlistable(monkeypatch, cache / "v1")  # listed before v2: the walk goes on past it

    with caplog.at_level(logging.WARNING, logger=heatmaps.__name__):
        removed = heatmap_cache.prune_cache(services)  # before: PermissionError, start-up failed

    assert removed == 1
    assert not old.exists()  # the other model's overlays are removed all the same
    assert current.exists()
    assert str(cache / "v1") in caplog.text and "Permission denied" in caplog.text


def test_a_cache_folder_that_cannot_be_listed_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    data_dir = tmp_path / "data"
    old = overlay(data_dir / "heatmaps" / "v2" / OVERLAY_SCALE / "ab" / f"{SHA}-roof_leak.png")
    _unlistable(monkeypatch, data_dir / "heatmaps")
    with caplog.at_level(logging.WARNING, logger=heatmaps.__name__):
        assert heatmap_cache.prune_cache(cache_services(data_dir, "v1")) == 0
    assert old.exists()  # nothing could be seen, so nothing removed
    assert "Permission denied" in caplog.text


# --- a heat map that cannot be drawn is not audited as viewed ----------------------------------


def test_a_heat_map_refused_as_unavailable_is_not_audited_as_viewed(web, browser_for):
    """Without model.pt (here: no model at all) the page refuses every heat map with 503; the
    audit trail must not record a view of evidence nobody was shown (as the other refusals,
    other model and not a home, record none)."""
    from sqlalchemy import select

    from serving.db.models import AuditEntry
    from tests.serving.helpers import jpeg

    web.create_family("F1")
    photo = web.upload("F1", jpeg(1)).json()
    commission = browser_for("commission")
    base = f"/ui/photos/{photo['photo_id']}"
    refused = commission.get(f"{base}/heatmap/damp_mould")
    assert refused.status_code == 503
    assert commission.get(f"{base}/image").status_code == 200  # the positive control
    with web.services.sessions() as session:
        actions = session.execute(
            select(AuditEntry.action).where(AuditEntry.target == f"photo:{photo['photo_id']}")
        ).scalars()
        assert "heatmap_viewed" not in list(actions)
        assert session.execute(
            select(AuditEntry.action).where(AuditEntry.action == "photo_image_viewed")
        ).scalar_one()


def test_an_unreadable_original_is_viewed_by_neither_route(web, browser_for, monkeypatch):
    """A photo whose original the store lost is refused by the image and heat-map routes;
    neither records a view (both audited before reading the original, before)."""
    from sqlalchemy import select

    from serving.db.models import AuditEntry
    from tests.serving.helpers import jpeg

    monkeypatch.setattr(heatmaps, "check_explains", lambda services, photo: None)
    web.create_family("F1")
    photo = web.upload("F1", jpeg(1)).json()
    web.services.store.path_for(photo["sha256"]).unlink()  # the original lost
    commission = browser_for("commission")
    base = f"/ui/photos/{photo['photo_id']}"
    assert commission.get(f"{base}/heatmap/damp_mould").status_code >= 500
    assert commission.get(f"{base}/image").status_code >= 500
    with web.services.sessions() as session:
        actions = list(
            session.execute(
                select(AuditEntry.action).where(AuditEntry.target == f"photo:{photo['photo_id']}")
            ).scalars()
        )
    assert "heatmap_viewed" not in actions and "photo_image_viewed" not in actions


# --- review 22: the prune goes on past entries it cannot look at -------------------------

SIGN = "damp_mould"


def _unsearchable(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """`paths` cannot be stat'ed, as the entries of a folder that may be read but not searched
    cannot (the tests may run as root, whom file modes do not stop: the system's answer is
    given here)."""
    stat, lstat = Path.stat, Path.lstat

    def refuse(real: Any) -> Any:
        def call(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self in paths:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        return call

    monkeypatch.setattr(Path, "stat", refuse(stat))
    monkeypatch.setattr(Path, "lstat", refuse(lstat))


def test_a_current_folder_that_cannot_be_looked_at_is_logged_not_raised(
    tmp_path, monkeypatch, caplog
):
    data_dir = tmp_path / "data"
    services = cache_services(data_dir, "v1")
    cache = data_dir / heatmap_cache.CACHE_DIR
    current = overlay(heatmap_cache.cache_path(services, sha256=SHA, sign=SIGN))
    old = overlay(cache / "v2" / OVERLAY_SCALE / "ab" / f"{SHA}-{SIGN}.png")
    _unsearchable(monkeypatch, cache / "v1")  # listed before v2: the walk goes on past it
    with caplog.at_level(logging.WARNING, logger=heatmaps.__name__):
        removed = heatmap_cache.prune_cache(services)  # before: PermissionError, start-up failed
    assert removed == 1 and not old.exists()
    monkeypatch.undo()
    assert current.exists()  # what could not be looked at is left as it is
    assert str(cache / "v1") in caplog.text and "Permission denied" in caplog.text


def test_a_cache_that_cannot_be_looked_at_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    data_dir = tmp_path / "data"
    cache = data_dir / heatmap_cache.CACHE_DIR
    old = overlay(cache / "v2" / OVERLAY_SCALE / "ab" / f"{SHA}-{SIGN}.png")
    _unsearchable(monkeypatch, cache)
    with caplog.at_level(logging.WARNING, logger=heatmaps.__name__):
        removed = heatmap_cache.prune_cache(cache_services(data_dir, "v1"))
        assert removed == 0  # before: PermissionError
    monkeypatch.undo()
    assert old.exists()  # nothing could be seen, so nothing removed
    assert str(cache) in caplog.text and "Permission denied" in caplog.text
