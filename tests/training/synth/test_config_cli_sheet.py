"""configs/synth.yaml checks, the `synth` CLI, the contact sheet and the benchmark module."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from shanyraq.errors import ConfigError
from training.synth.cli import app
from training.synth.config import load_synth_config

REAL = Path(__file__).resolve().parents[3] / "configs" / "synth.yaml"


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(REAL.read_text())
    mutate(data)
    path = tmp_path / "synth.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_real_config_matches_the_taxonomy(taxonomy):
    config = load_synth_config(REAL).check_against(taxonomy)
    assert config.photos.n_styles >= 12
    assert set(config.signs) == set(taxonomy.sign_names)


def test_a_sign_missing_from_the_config_is_refused(tmp_path, taxonomy):
    path = _write(tmp_path, lambda d: d["signs"].pop("damp_mould"))
    with pytest.raises(ConfigError, match="damp_mould"):
        load_synth_config(path).check_against(taxonomy)


def test_an_unknown_room_and_a_bad_range_are_refused(tmp_path, taxonomy):
    path = _write(tmp_path, lambda d: d["signs"]["overcrowding"]["rooms"].append("garage"))
    with pytest.raises(ConfigError, match="garage"):
        load_synth_config(path).check_against(taxonomy)
    path = _write(tmp_path, lambda d: d["camera"].update(exposure=[1.5, 0.5]))
    with pytest.raises(ConfigError, match="exposure"):
        load_synth_config(path)
    path = _write(tmp_path, lambda d: d["photos"].update(n_styles=4))
    with pytest.raises(ConfigError, match="n_styles"):
        load_synth_config(path)


def test_cli_photos_families_and_sheet(tmp_path, taxonomy):
    from shanyraq.manifest_check import check_manifest

    runner = CliRunner()
    result = runner.invoke(
        app, ["photos", "--n", "14", "--out", str(tmp_path / "p"), "--seed", "1", "--size", "96"]
    )
    assert result.exit_code == 0, result.output
    manifest = tmp_path / "p" / "manifest.csv"
    assert check_manifest(manifest, taxonomy) == []
    result = runner.invoke(
        app, ["families", "--n", "3", "--out", str(tmp_path / "f"), "--seed", "1", "--size", "64"]
    )
    assert result.exit_code == 0, result.output
    assert "families.csv" in result.output
    assert check_manifest(tmp_path / "f" / "manifest.csv", taxonomy) == []
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(
        app,
        [
            "sheet",
            str(manifest),
            "--out",
            str(sheet),
            "--columns",
            "4",
            "--rows",
            "2",
            "--thumb",
            "64",
        ],
    )
    assert result.exit_code == 0, result.output
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[1] == 4 * 64 and image.shape[0] > 2 * 64
    assert image.std() > 10


def test_cli_refuses_a_bad_count(tmp_path):
    result = CliRunner().invoke(app, ["photos", "--n", "0", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert not (tmp_path / "manifest.csv").exists()


def test_sheet_spreads_rooms(tmp_path):
    from training.synth.photos import generate_photos
    from training.synth.sheet import contact_sheet

    manifest = generate_photos(30, tmp_path / "p", seed=5, size=64)
    out = contact_sheet(manifest, tmp_path / "s.png", columns=6, rows=1, thumb=48)
    image = cv2.imread(str(out))
    assert image.shape[:2] == (48 + 47, 6 * 48)
    thumbs = [image[:48, 48 * i : 48 * (i + 1)] for i in range(6)]
    assert len({t.tobytes() for t in thumbs}) == 6  # six different photos


def test_benchmark_module_reports_a_ratio():
    from benchmarks import bench_synth

    results = bench_synth.run(n_photos=6, min_seconds=0.05)
    assert results and all(r.unit == "photos/s" for r in results)
    assert all(r.candidate_rate > 0 and r.baseline_rate > 0 for r in results)
    assert np.isfinite(results[0].ratio)
