"""Review 16: a key repeated in one YAML mapping is refused, not silently overwritten; and the
family-leak checks fold family ids as the splitter does."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shanyraq.config import get_settings, read_yaml
from shanyraq.errors import ConfigError, ManifestError
from shanyraq.manifest import ManifestRow, write_manifest
from shanyraq.manifest_check import check_manifest
from shanyraq.taxonomy import load_taxonomy
from training.dataset_splits import check_families_in_one_split

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
REAL_TAXONOMY = CONFIGS / "taxonomy.yaml"


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _refusal(path: Path, load: Callable[[Path], Any] = read_yaml) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_repeated_top_level_key_names_file_line_and_key(tmp_path):
    text = REAL_TAXONOMY.read_text()
    lines = text.splitlines()
    version_line = next(i for i, line in enumerate(lines, 1) if line.startswith("version:"))
    path = _write(tmp_path, text + "version: 2\n", "taxonomy.yaml")
    repeated_line = len(lines) + 1
    message = _refusal(path, load_taxonomy)
    assert f"at line {repeated_line}, column 1" in message
    assert "duplicate key 'version'" in message
    assert f"first at line {version_line}" in message


def test_repeated_key_inside_one_class_is_named_not_called_duplicate_names(tmp_path):
    text = REAL_TAXONOMY.read_text()
    lines = text.splitlines()
    # The first `- name:` of a class list: repeat its name key on the next line.
    index = next(i for i, line in enumerate(lines) if line.lstrip().startswith("- name:"))
    indent = " " * (len(lines[index]) - len(lines[index].lstrip()) + 2)
    lines.insert(index + 1, f"{indent}name: other_name")
    path = _write(tmp_path, "\n".join(lines) + "\n", "taxonomy.yaml")
    message = _refusal(path, load_taxonomy)
    assert f"at line {index + 2}" in message
    assert "duplicate key 'name'" in message
    assert f"first at line {index + 1}" in message
    assert "duplicate names" not in message


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", 4, "'b'"),
        ("items:\n  - {x: 1, x: 2}\n", 2, "'x'"),
        ("1: one\n2: two\n1: again\n", 3, "1"),
        # YAML 1.1 reads both as the boolean true: one key written twice.
        ("yes: 1\ntrue: 2\n", 2, "True"),
    ],
)
def test_repeated_key_anywhere_is_refused(tmp_path, text, line, key):
    message = _refusal(_write(tmp_path, text))
    assert f"not valid YAML at line {line}," in message
    assert f"duplicate key {key}" in message


def test_merge_key_override_is_not_a_duplicate(tmp_path):
    path = _write(tmp_path, "base: &b {x: 1, y: 2}\nmore:\n  <<: *b\n  y: 3\n")
    assert read_yaml(path) == {"base": {"x": 1, "y": 2}, "more": {"x": 1, "y": 3}}


def test_same_key_in_two_mappings_is_fine(tmp_path):
    path = _write(tmp_path, "a: {name: 1}\nb: {name: 2}\nlist:\n  - name: x\n  - name: y\n")
    assert read_yaml(path)["list"] == [{"name": "x"}, {"name": "y"}]


def test_other_yaml_errors_keep_their_format(tmp_path):
    message = _refusal(_write(tmp_path, "version: 1\nroom: [unclosed\n"))
    assert "not valid YAML at line" in message
    assert "duplicate" not in message


def _load_shanyraq_settings(path: Path) -> Any:
    get_settings.cache_clear()
    try:
        return get_settings()
    finally:
        get_settings.cache_clear()


def _loaders() -> dict[str, Callable[[Path], Any]]:
    from annotation.settings import load_annotation_config
    from serving.core.config import load_serving_settings
    from training.augment import build_pipeline
    from training.recipe import load_recipe
    from training.synth.config import load_synth_config
    from vision.engine import load_engine_config
    from welfare.criteria import load_welfare_config

    return {
        "annotation.yaml": load_annotation_config,
        "engine.yaml": load_engine_config,
        "serving.yaml": load_serving_settings,
        "shanyraq.yaml": _load_shanyraq_settings,
        "synth.yaml": load_synth_config,
        "taxonomy.yaml": load_taxonomy,
        "welfare.yaml": load_welfare_config,
        # albumentations builds every transform with strict=True.
        "augment/*": lambda path: build_pipeline(path.stem),
        "train/*": load_recipe,
    }


def _real_configs() -> list[Path]:
    return sorted(CONFIGS.rglob("*.yaml"))


@pytest.mark.parametrize("path", _real_configs(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_real_config_loads_through_its_loader(monkeypatch, path):
    for name in ("SHANYRAQ_CONFIGS_DIR", "SHANYRAQ_LABEL_STUDIO_URL"):
        monkeypatch.delenv(name, raising=False)
    relative = path.relative_to(CONFIGS)
    loaders = _loaders()
    key = str(relative) if relative.parent == Path(".") else f"{relative.parent}/*"
    assert key in loaders, f"configs/{relative} has no loader in this test: add one"
    assert loaders[key](path) is not None


# --- family ids in the leak checks, folded as shanyraq.splits folds them ---------------------


def _row(family_id: str, split: str, n: int) -> ManifestRow:
    return ManifestRow(f"p{n}.jpg", f"{n:064x}", family_id, split, "kitchen", 3, frozenset(), "t")


def _manifest(root: Path, rows: list[tuple[str, str]]) -> Path:
    manifest = []
    for n, (family_id, split) in enumerate(rows):
        content = f"photo {n}".encode()
        (root / f"p{n}.jpg").write_bytes(content)
        row = _row(family_id, split, n)
        manifest.append(replace(row, sha256=hashlib.sha256(content).hexdigest()))
    return write_manifest(root / "manifest.csv", manifest)


def _leaks(root: Path, rows: list[tuple[str, str]], taxonomy: Any) -> list[str]:
    problems = check_manifest(_manifest(root, rows), taxonomy)
    return [p.message for p in problems if p.kind == "family_split_leak"]


def test_manifest_check_finds_a_family_written_in_two_cases(tmp_path, taxonomy):
    rows = [("F1", "train"), ("F1", "train"), ("f1", "test"), ("F2", "val")]
    (message,) = _leaks(tmp_path, rows, taxonomy)
    assert message.startswith("family F1 appears in splits test, train")
    assert "F1 in train" in message and "f1 in test" in message


def test_manifest_check_message_is_unchanged_without_variants(tmp_path, taxonomy):
    rows = [("F1", "train"), ("F1", "test"), ("F2", "val")]
    assert _leaks(tmp_path, rows, taxonomy) == ["family F1 appears in splits test, train"]


def test_manifest_check_variants_in_one_split_are_no_leak(tmp_path, taxonomy):
    assert _leaks(tmp_path, [("F1", "train"), ("f1", "train"), ("F2", "test")], taxonomy) == []


def test_manifest_check_rows_without_a_family_are_not_one_family(tmp_path, taxonomy):
    """A blank family_id is reported as missing_family; it is no family found in two splits."""
    problems = check_manifest(_manifest(tmp_path, [("", "train"), ("", "test")]), taxonomy)
    assert {p.kind for p in problems} == {"missing_family"}


def test_training_refuses_a_family_written_in_two_cases(tmp_path):
    rows = [_row("F1", "train", 0), _row(" f1 ", "test", 1), _row("F2", "val", 2)]
    with pytest.raises(ManifestError) as caught:
        check_families_in_one_split(rows, tmp_path / "manifest.csv")
    message = str(caught.value)
    assert "1 family has photos in more than one split" in message
    assert "F1 in train" in message and " f1  in test" in message


def test_training_keeps_variants_in_one_split_and_blank_ids(tmp_path):
    rows = [
        _row("F1", "train", 0),
        _row("f1", "train", 1),
        _row("", "train", 2),
        _row("  ", "test", 3),
        _row("F2", "val", 4),
    ]
    check_families_in_one_split(rows, tmp_path / "manifest.csv")
