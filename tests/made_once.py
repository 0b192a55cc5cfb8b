"""What test helpers make many times over from the same inputs (a fixture photo model, a small
fusion model, a migrated database), made once per test process and copied after that.

A kept thing lives in a folder of this process's (`process_folder`), removed when the process
ends. Its key must name everything the made thing depends on: the helper's arguments, and
`inputs_digest` for the configs a test may have edited (SHANYRAQ_CONFIGS_DIR) and the code
version a thing records (a test may set its own)."""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_FOLDER: dict[str, Path] = {}
_KEPT: dict[str, Path] = {}


def process_folder() -> Path:
    """This process's folder of kept things, removed when the process ends."""
    if "folder" not in _FOLDER:
        folder = Path(tempfile.mkdtemp(prefix="shanyraq-test-kept-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _FOLDER["folder"] = folder
    return _FOLDER["folder"]


def inputs_digest(*given: Any) -> str:
    """A key for `given` (JSON-able, or its str) and what a made thing depends on beyond a
    helper's arguments: the code version it records and every file of the configs folder the
    test runs under."""
    from shanyraq import provenance
    from shanyraq.config import default_configs_dir

    digest = hashlib.sha256()
    parts = [*given, provenance.code_version()]
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    configs = default_configs_dir()
    for path in sorted(p for p in configs.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(configs)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:24]


def is_fresh(folder: Path) -> bool:
    """Whether `folder` is not there yet or is an empty folder (so a copy loses nothing)."""
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def made_once(kind: str, key: str, folder: Path, make: Callable[[Path], None]) -> Path:
    """`folder` holding what `make(folder)` makes: a copy of what it made earlier in this
    process under the same `kind` and `key` when `folder` is fresh (`is_fresh`); otherwise
    `make` runs, and a first result is kept. A folder holding something always gets a real
    `make`, which may replace or add to what is there."""
    name, fresh = f"{kind}-{key}", is_fresh(folder)
    if fresh and name in _KEPT:
        shutil.copytree(_KEPT[name], folder, dirs_exist_ok=True)
        return folder
    make(folder)
    if fresh:
        kept = process_folder() / name
        shutil.copytree(folder, kept)
        _KEPT[name] = kept
    return folder


def made_file_once(kind: str, key: str, path: Path, make: Callable[[Path], None]) -> Path:
    """`path`, a copy of the file `make` made earlier in this process under `kind` and `key`
    (made now, in this process's folder, the first time); a file already at `path` is left."""
    name = f"{kind}-{key}"
    if name not in _KEPT:
        kept = process_folder() / name
        make(kept)
        _KEPT[name] = kept
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_KEPT[name], path)
    return path
