"""Cached heat maps of a model no longer served, or drawn in an earlier colour scale, are
removed when the service starts (they are renders of families' photos); the current model's
overlays in the current scale stay, and nothing outside the cache, or behind a symbolic link,
is touched."""

from __future__ import annotations

import logging
from pathlib import Path

from serving.web import heatmap_cache, heatmaps
from tests.web.heatmap_helpers import SHA, cache_services, overlay
from vision.explain import OVERLAY_SCALE


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def test_overlays_of_other_models_and_scales_are_removed_the_current_ones_kept(tmp_path, caplog):
    data_dir = tmp_path / "data"
    services = cache_services(data_dir)
    cache = data_dir / "heatmaps"
    current = overlay(heatmap_cache.cache_path(services, sha256=SHA, sign="roof_leak"))
    overlay(cache / "v2" / "ab" / f"{SHA}-roof_leak.png")  # v2 in JET: before the scale key
    overlay(cache / "v2" / "jet" / "ab" / f"{SHA}-roof_leak.png")
    overlay(cache / "v1" / OVERLAY_SCALE / "ab" / f"{SHA}-roof_leak.png")  # an older model
    overlay(cache / "v1" / "ab" / f"{SHA}-mould.png")
    overlay(cache / "stray.png")
    beside = overlay(data_dir / "photos" / "ab" / SHA)  # not the cache's: never touched

    with caplog.at_level(logging.INFO, logger=heatmaps.__name__):
        removed = heatmap_cache.prune_cache(services)

    assert removed == 5
    assert _files(cache) == [str(current.relative_to(cache))]
    assert sorted(p.name for p in cache.iterdir()) == ["v2"]  # emptied folders go too
    assert beside.exists()
    assert "5 cached heat maps" in caplog.text
    assert heatmap_cache.prune_cache(services) == 0  # nothing left to do


def test_a_service_without_a_model_keeps_no_overlays(tmp_path):
    data_dir = tmp_path / "data"
    overlay(data_dir / "heatmaps" / "v1" / OVERLAY_SCALE / "ab" / f"{SHA}-roof_leak.png")
    assert heatmap_cache.prune_cache(cache_services(data_dir, model_version=None)) == 1
    assert _files(data_dir / "heatmaps") == []


def test_links_are_removed_never_followed(tmp_path):
    data_dir, outside = tmp_path / "data", tmp_path / "outside"
    kept = overlay(outside / "ab" / "keep.png")
    cache = data_dir / "heatmaps"
    cache.mkdir(parents=True)
    (cache / "v1").symlink_to(outside, target_is_directory=True)  # a whole old model: a link
    (cache / "v2").mkdir()
    (cache / "v2" / "jet").symlink_to(outside, target_is_directory=True)
    (cache / "v2" / "link.png").symlink_to(kept)

    heatmap_cache.prune_cache(cache_services(data_dir))

    assert sorted(p.name for p in cache.iterdir()) == ["v2"]
    assert list((cache / "v2").iterdir()) == []
    assert kept.read_bytes().startswith(b"\x89PNG")  # the links went, not what they point at


def test_a_cache_folder_that_is_a_link_is_left_alone(tmp_path, caplog):
    data_dir, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    old = overlay(elsewhere / "v1" / OVERLAY_SCALE / "ab" / f"{SHA}-roof_leak.png")
    data_dir.mkdir()
    (data_dir / "heatmaps").symlink_to(elsewhere, target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger=heatmaps.__name__):
        assert heatmap_cache.prune_cache(cache_services(data_dir)) == 0
    assert old.exists()
    assert "symbolic link" in caplog.text


def test_the_service_prunes_the_cache_when_it_starts(tmp_path):
    """A service started without a photo model: an overlay cached under the model it served
    before is gone once it has started."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from tests.serving.helpers import make_settings

    settings = make_settings(tmp_path / "second", f"sqlite:///{tmp_path / 'second.db'}")
    old = overlay(settings.data_dir / "heatmaps" / "v1" / OVERLAY_SCALE / "ab" / f"{SHA}-x.png")
    with TestClient(create_app(settings), base_url="http://127.0.0.1"):
        assert not old.exists()
    assert not (settings.data_dir / "heatmaps" / "v1").exists()


def test_a_model_version_of_dots_keeps_its_cache_inside_the_cache_folder(tmp_path):
    """A version is free text in model.json: `..` must not lead out of the cache, and its
    overlays must survive the next start's pruning."""
    for i, version in enumerate(("..", ".", ".hidden", "../../etc")):
        data_dir = tmp_path / f"data{i}"
        cache = (data_dir / "heatmaps").resolve()
        services = cache_services(data_dir, model_version=version)
        path = overlay(heatmap_cache.cache_path(services, sha256=SHA, sign="roof_leak"))
        assert path.resolve().is_relative_to(cache), (version, path)
        assert not path.resolve().relative_to(cache).parts[0].startswith(".")
        assert heatmap_cache.prune_cache(services) == 0 and path.exists()


def test_overlays_drawn_by_other_drawing_code_are_not_served_and_are_removed(tmp_path):
    # Before, the key was the model version and the scale alone: a release that changed how
    # vision.explain normalises or blends a map served the overlays drawn the old way.
    data_dir = tmp_path / "data"
    services = cache_services(data_dir)
    current = heatmap_cache.cache_path(services, sha256=SHA, sign="roof_leak")
    assert current.parent.parent.name.startswith(f"{OVERLAY_SCALE}-")
    older = overlay(data_dir / "heatmaps" / "v2" / OVERLAY_SCALE / "ab" / f"{SHA}-roof_leak.png")
    assert older != current
    assert heatmap_cache.prune_cache(services) == 1
    assert not older.exists()
