"""The folder a generation writes: checked first, then written through a staging folder.

A generated set is several entries that must match each other (photos/, manifest.csv,
families.csv), so a generation never writes into them in place. It renders into a staging
folder inside the output folder and, only when everything is written, swaps its entries in
for the ones a generation owns (OWNED); files the generator does not own are left alone.
An interrupted or failed run leaves the output folder as it was.

`synth.json` records the settings of the generation in a folder. A non-empty folder is
refused unless it holds the same generation (same generator, counts, seed, size, synth
config and taxonomy: the same bytes come out again) or the caller asks to overwrite.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shanyraq.atomic import swap_entries
from shanyraq.errors import InputFileError, OutputExistsError
from shanyraq.taxonomy import Taxonomy
from training.synth.config import SynthConfig

logger = logging.getLogger(__name__)

GENERATION_FILE = "synth.json"
OWNED = ("photos", "manifest.csv", "families.csv", GENERATION_FILE)
_STAGING_PREFIX = ".synth-"  # staging (.partial) and swapped-out (.old) folders
_SHOWN = 5

Generation = dict[str, object]


def generation(
    generator: str, *, config: SynthConfig, taxonomy: Taxonomy, **settings: object
) -> Generation:
    """What identifies a generation: generator, its settings, the synth config (its worker
    count aside: workers do not change a byte) and the taxonomy."""
    dump = config.model_dump(mode="json")
    dump["photos"].pop("workers", None)
    config_sha256 = hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()
    return {
        "generator": generator,
        **settings,
        "config_sha256": config_sha256,
        "taxonomy_sha256": taxonomy.fingerprint(),
    }


def _recorded(out_dir: Path) -> object:
    try:
        return json.loads((out_dir / GENERATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none, unreadable or not JSON: not a known generation
        return None


def _describe(record: Generation) -> str:
    shown = {k: v for k, v in record.items() if not k.endswith("sha256")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def check_output(out_dir: Path, record: Generation, *, overwrite: bool) -> None:
    """Refuse `out_dir` when it is a file, or a non-empty folder that holds another
    generation (or other data) and `overwrite` is not set. Run before any work."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputFileError(f"{out_dir} is a file; --out names the folder for the generated set")
    if not out_dir.is_dir():
        return
    entries = sorted(p.name for p in out_dir.iterdir())
    leftovers = [name for name in entries if name.startswith(_STAGING_PREFIX)]
    if leftovers:
        logger.warning("%s holds %s, left by an interrupted run; remove it", out_dir, leftovers)
    entries = [name for name in entries if name not in leftovers]
    if overwrite or not entries or _recorded(out_dir) == record:
        return
    more = f" and {len(entries) - _SHOWN} more" if len(entries) > _SHOWN else ""
    raise OutputExistsError(
        f"{out_dir} is not empty ({', '.join(entries[:_SHOWN])}{more}) and does not hold this "
        f"generation ({_describe(record)}); choose a new or empty folder, or pass --overwrite "
        f"to replace its {', '.join(OWNED)} (other files are left alone)"
    )


@contextmanager
def staged_output(out_dir: Path, record: Generation) -> Iterator[Path]:
    """Yield an empty staging folder; write the set there. On success synth.json is added and
    the staged entries replace out_dir's OWNED ones; on failure the staging folder is removed
    and out_dir is left as it was (removed again if this call made it)."""
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, suffix=".partial", dir=out_dir))
    try:
        yield staging
        text = json.dumps(record, indent=2) + "\n"
        (staging / GENERATION_FILE).write_text(text, encoding="utf-8")
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if made and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Move out_dir's OWNED entries aside, the staged ones in, then drop the old ones; a
    failed rename puts everything back."""
    old = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, suffix=".old", dir=out_dir))
    try:
        swap_entries(staging, out_dir, replaced=OWNED, aside=old)
    except OSError:
        old.rmdir()
        raise
    staging.rmdir()
    shutil.rmtree(old)
