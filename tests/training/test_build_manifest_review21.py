"""Review 21: a build refuses a synth config without dwelling rooms before it trains, and
manifest errors name the line of the file the bad row starts on."""

from __future__ import annotations

import pytest

import training.build as build
import training.synth.ceiling as ceiling
import training.synth.config as synth_config
from shanyraq.errors import ConfigError, ManifestError
from shanyraq.manifest import REQUIRED_COLUMNS, read_manifest
from training.recipe import TrainConfig
from training.synth.config import SynthConfig, get_synth_config


class TrainCalled(Exception):
    """Raised by the stand-in train step: the build got as far as training."""


def _no_train(*args, **kwargs):
    raise TrainCalled


def _synthetic_recipe(tmp_path, make_recipe, toy_manifest) -> TrainConfig:
    raw = make_recipe(toy_manifest, tmp_path / "run").model_dump(mode="json")
    raw["data"] = {
        "manifest": str(tmp_path / "synth" / "manifest.csv"),  # not there: it would be generated
        "synthetic": {"n_photos": 40, "seed": 0, "size": 32},
    }
    return TrainConfig.model_validate(raw)


def _room_weights(dwelling: float, taxonomy) -> SynthConfig:
    raw = get_synth_config().model_dump(mode="json")
    raw["photos"]["room_weights"] = {
        r: (1.0 if r == taxonomy.not_dwelling else dwelling) for r in taxonomy.room_names
    }
    return SynthConfig.model_validate(raw).check_against(taxonomy)  # passes load


def test_a_synth_config_without_dwelling_rooms_is_refused_before_training(
    monkeypatch, tmp_path, tiny_recipe, toy_manifest, taxonomy
):
    # Before: the photos were generated and the model trained, then the ceiling refused it.
    synth = _room_weights(0.0, taxonomy)
    for module in (ceiling, synth_config):  # the config the build and its ceiling read
        monkeypatch.setattr(module, "get_synth_config", lambda: synth)
    monkeypatch.setattr(build, "train", _no_train)
    recipe = _synthetic_recipe(tmp_path, tiny_recipe, toy_manifest)
    with pytest.raises(ConfigError, match=r"every dwelling room .* has weight 0"):
        build.build_artifact(recipe)
    assert not (tmp_path / "synth").exists()  # nothing generated either


def test_a_synth_config_with_dwelling_rooms_goes_on_to_training(
    monkeypatch, tmp_path, tiny_recipe, toy_manifest, taxonomy
):
    synth = _room_weights(0.5, taxonomy)
    for module in (ceiling, synth_config):  # the config the build and its ceiling read
        monkeypatch.setattr(module, "get_synth_config", lambda: synth)
    monkeypatch.setattr(build, "train", _no_train)
    with pytest.raises(TrainCalled):
        build.build_artifact(_synthetic_recipe(tmp_path, tiny_recipe, toy_manifest))


def test_a_recipe_without_synthetic_data_is_not_checked_against_the_synth_config(
    monkeypatch, tmp_path, tiny_recipe, toy_manifest, taxonomy
):
    synth = _room_weights(0.0, taxonomy)
    for module in (ceiling, synth_config):  # the config the build and its ceiling read
        monkeypatch.setattr(module, "get_synth_config", lambda: synth)
    monkeypatch.setattr(build, "train", _no_train)
    with pytest.raises(TrainCalled):
        build.build_artifact(tiny_recipe(toy_manifest, tmp_path / "run"))


def _row(path: str, *, condition: str = "3", source: str = "toy") -> str:
    cells = {
        "path": path,
        "sha256": "ab" * 32,
        "family_id": "f1",
        "split": "train",
        "room": "kitchen",
        "condition": condition,
        "signs": "none",
        "source": source,
    }
    return ",".join(cells[c] for c in REQUIRED_COLUMNS)


def test_a_bad_row_is_named_by_the_file_line_it_starts_on(tmp_path):
    lines = [
        ",".join(REQUIRED_COLUMNS),  # line 1
        _row("a.jpg", source='"taken by\nthe inspector"'),  # lines 2-3: one row
        "",  # line 4: blank, csv skips it
        _row("b.jpg", condition="three"),  # line 5
    ]
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Before: "line 3", the row's number, while an editor and `data check` show line 5.
    with pytest.raises(ManifestError, match=r"manifest\.csv, line 5: condition 'three'"):
        read_manifest(path)


def test_a_short_row_after_a_multi_line_cell_is_named_by_its_line(tmp_path):
    header = ",".join(REQUIRED_COLUMNS)
    short = "c.jpg," + "ab" * 32 + ",f1,train"  # four cells of eight
    multi_line = _row("a.jpg", source='"x\r\ny\r\nz"')  # lines 2-4: one row
    text = "\r\n".join([header, multi_line, short, ""])  # the short row: line 5
    path = tmp_path / "manifest.csv"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(ManifestError, match=r"line 5: the row has 4 cell\(s\)"):
        read_manifest(path)
    good = text.replace(short, _row("c.jpg"))
    path.write_text(good, encoding="utf-8", newline="")
    rows = read_manifest(path).rows
    assert [r.source for r in rows] == ["x\r\ny\r\nz", "toy"]


def test_a_training_photo_error_names_the_editor_line_of_its_row(tmp_path, taxonomy):
    # Before: training.data.manifest_line numbered rows (line 2 on), so a blank line above the
    # row put its photo's error a line off.
    from tests.training.toy_manifest_helpers import write_toy_manifest
    from training.data import manifest_line

    manifest = write_toy_manifest(tmp_path / "data", taxonomy)
    header, *rows = manifest.read_text().splitlines()
    manifest.write_text("\n".join([header, "", *rows]) + "\n")  # a blank line after the header
    row = read_manifest(manifest).rows[3]
    lines = manifest.read_text().splitlines()
    [line] = [n for n, text in enumerate(lines, start=1) if text.startswith(f"{row.path},")]
    assert manifest_line(manifest, row) == f"{manifest}, line {line}"
