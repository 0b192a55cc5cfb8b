"""Fusion models written into their folders together, all or none (for welfare.model_folder's
`save_models`, which checks the folders first and says what a model's files are).

Each model is written whole into new/<name> of a private work folder `NAME.partial-XXXXXXXX`
beside its own folder, and only then are the staged folders swapped in, every one or none
(`swap_entries`). A failure while writing or swapping leaves every folder as it was, and no
work folder behind, except one that keeps an old folder that could not be put back (logged).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shanyraq.atomic import STAGING_MARK, swap_entries

if TYPE_CHECKING:
    from welfare.fusion import FusionModel

log = logging.getLogger(__name__)

Write = Callable[["FusionModel", Path], None]  # writes a model's files into an empty folder


def write_all(models: Mapping[Path, FusionModel], write: Write) -> None:
    """Write each model into its folder with `write`, all or none: every model is written whole
    in a staging folder beside its own, then the staged folders are swapped in (`_swap_in`)."""
    by_parent: dict[Path, dict[str, FusionModel]] = {}
    for folder, model in models.items():
        path = Path(os.path.abspath(folder))  # "." and ".." have no name to stage beside
        by_parent.setdefault(path.parent, {})[path.name] = model
    with ExitStack() as stack:
        _swap_in([stack.enter_context(_staged(p, group, write)) for p, group in by_parent.items()])


@dataclass(frozen=True)
class _Staged:
    """Models written in a work folder in `parent`: new/<name> each, old/ for those replaced."""

    parent: Path
    names: list[str]
    new: Path
    old: Path


@contextmanager
def _staged(parent: Path, models: Mapping[str, FusionModel], write: Write) -> Iterator[_Staged]:
    """Write each model into new/<name> of a private work folder `NAME.partial-XXXXXXXX` in
    `parent`. On the way out the work folder is removed, and with it the folders the models
    replaced; after a failure, an old folder that could not be put back stays in it."""
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=min(models) + STAGING_MARK, dir=parent))
    staged = _Staged(parent, sorted(models), work / "new", work / "old")
    try:
        staged.old.mkdir()
        for name, model in models.items():
            (staged.new / name).mkdir(parents=True)
            write(model, staged.new / name)
        yield staged
    except BaseException:
        shutil.rmtree(staged.new, ignore_errors=True)
        with suppress(OSError):  # not empty: an old model that could not be put back
            staged.old.rmdir()
            work.rmdir()
        if staged.old.exists():
            log.error("%s could not all be put back; the old ones are kept in %s", parent, work)
        raise
    shutil.rmtree(work)


def _swap_in(groups: Sequence[_Staged]) -> None:
    """Swap every group's staged folders in. A group whose swap fails puts its own back
    (`swap_entries`); the groups swapped before it are then swapped back, so every folder is
    new or every one is old (one that cannot be swapped back keeps its old folders in its work
    folder, see `_staged`)."""
    done: list[_Staged] = []
    try:
        for group in groups:
            swap_entries(group.new, group.parent, replaced=group.names, aside=group.old, sync=True)
            done.append(group)
    except BaseException:
        for group in reversed(done):
            with suppress(OSError):
                swap_entries(group.old, group.parent, replaced=group.names, aside=group.new)
        raise
