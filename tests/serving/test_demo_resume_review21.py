"""Review 21 of the demo's seeding resumed (helper-410): a seeding cut short and run again
after configs changed says what to do (no `--overwrite`, which `shanyraq demo` lacks), and
the demo's marker counts its photos, those of the run cut short with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import serving.demo as demo
from serving.demo import DemoSeedMismatchError, demo_regions, seed_demo
from tests.serving.demo_helpers import interrupt_on
from tests.serving.helpers import make_settings
from tests.web.demo_helpers import demo_filed
from training.synth.output import GENERATION_FILE

# Seed 7, 6 families: one family in each demo region, 7 photos between them
# (tests/serving/test_demo_messages_review20.py checks the plan).
N_FAMILIES, SEED = 6, 7


def _cut_short(settings: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """seed_demo stopped by Ctrl-C before it files the first family (`_family_body`) or the
    second family's photos (`_upload_photos`: the first family's are filed)."""
    with monkeypatch.context() as patched:
        interrupt_on(patched, demo, name, 1 if name == "_family_body" else 2)
        with pytest.raises(KeyboardInterrupt):
            seed_demo(settings, n_families=N_FAMILIES, seed=SEED)


def _configs_changed(settings: Any) -> None:
    """demo-source as rendered under another synth config (what write_families checks)."""
    record_path = Path(settings.data_dir) / "demo-source" / GENERATION_FILE
    record = json.loads(record_path.read_text())
    record["config_sha256"] = "0" * 64
    record_path.write_text(json.dumps(record))


def _marked_photos(settings: Any) -> int:
    marker = (Path(settings.data_dir) / demo.SEED_MARKER).read_text().split()
    return int(dict(field.split("=") for field in marker)["photos"])


def test_changed_configs_before_any_family_was_filed_render_the_demo_source_again(
    tmp_path, monkeypatch
):
    # Before: OutputExistsError suggesting --overwrite, an option `shanyraq demo` lacks.
    settings = make_settings(tmp_path, "")
    _cut_short(settings, monkeypatch, "_family_body")  # rendered, nothing filed yet
    assert not demo_filed(settings)[1]
    _configs_changed(settings)
    assert seed_demo(settings, n_families=N_FAMILIES, seed=SEED) > 0
    planned, stored, _ = demo_filed(settings)
    assert stored == planned and planned
    assert (settings.data_dir / demo.SEED_MARKER).exists()


def test_changed_configs_after_families_were_filed_are_refused_with_a_way_out(
    tmp_path, monkeypatch
):
    # Before: OutputExistsError "... pass --overwrite": no such option on `shanyraq demo`.
    settings = make_settings(tmp_path, "")
    _cut_short(settings, monkeypatch, "_upload_photos")  # the first family and its photos
    _, before, _ = demo_filed(settings)
    assert before
    _configs_changed(settings)
    with pytest.raises(DemoSeedMismatchError) as refused:
        seed_demo(settings, n_families=N_FAMILIES, seed=SEED)
    message = refused.value.message
    assert "--overwrite" not in message
    assert f"remove {settings.data_dir} " in message and "configs/synth.yaml" in message
    assert refused.value.code == "demo_seed_mismatch"
    assert demo_filed(settings)[1] == before  # nothing mixed in
    assert not (settings.data_dir / demo.SEED_MARKER).exists()


def test_the_marker_counts_the_photos_of_a_run_cut_short_too(tmp_path, monkeypatch):
    # Before: photos= counted this run's uploads only, fewer than the demo holds.
    settings = make_settings(tmp_path, "")
    _cut_short(settings, monkeypatch, "_upload_photos")
    first = len(demo_filed(settings)[1])
    assert first > 0
    uploaded = seed_demo(settings, n_families=N_FAMILIES, seed=SEED)
    planned, stored, regions = demo_filed(settings)
    assert stored == planned and set(regions.values()) <= set(demo_regions())
    assert uploaded == len(stored) - first
    assert _marked_photos(settings) == len(stored)
