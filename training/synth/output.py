"""The folder a generation writes: checked first, then written through a staging folder.

A generated set is several entries that must match each other (photos/, manifest.csv,
families.csv), so a generation never writes into them in place. It renders into a staging
folder inside the output folder and, only when everything is written, swaps its entries in
for the ones a generation owns (OWNED); files the generator does not own are left alone.
An interrupted or failed run leaves the output folder as it was: SIGTERM included, which
ends the run as Ctrl-C does (the staging folder removed, exit status 143).

`synth.json` records the settings of the generation in a folder. A non-empty folder is
refused unless it holds the same generation (same generator, counts, seed, size, synth
config and taxonomy: the same bytes come out again) or the caller asks to overwrite.

One run at a time writes into a folder: a run holds a lock on it (flock, released when the
run ends, however it ends) from before its staging folder is made until its set is swapped
in, and a second run is refused at once (OutputBusyError) instead of rendering a set that
would silently replace the first one's. A run also refuses to swap in when the folder's set
changed between its check and taking the lock (a run that finished in between).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from shanyraq.atomic import swap_entries
from shanyraq.errors import InputFileError, OutputExistsError
from shanyraq.taxonomy import Taxonomy
from training.synth.config import SynthConfig

try:
    import fcntl
except ImportError:  # not POSIX: no folder lock, the check at swap time still applies
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

GENERATION_FILE = "synth.json"
OWNED = ("photos", "manifest.csv", "families.csv", GENERATION_FILE)
_STAGING_PREFIX = ".synth-"  # staging (.partial) and swapped-out (.old) folders
_SHOWN = 5
# flock where the file system has no locks (some network mounts): the run goes on unlocked.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL})

Generation = dict[str, object]
_State = tuple[tuple[str, int, int], ...]
# What check_output saw of each folder's OWNED entries, compared again under the lock by the
# staged_output that follows it (last in, first out: a run may start another inside it).
_checked: dict[str, list[_State]] = {}


class OutputBusyError(OutputExistsError):
    """Another run is writing a generated set into the same folder."""

    code = "output_busy"


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


def _state(out_dir: Path) -> _State:
    """The OWNED entries of `out_dir` as they are now (a swap replaces them: new inodes)."""
    state = []
    for name in OWNED:
        try:
            st = os.lstat(out_dir / name)
        except OSError:
            continue
        state.append((name, st.st_ino, st.st_mtime_ns))
    return tuple(state)


@contextmanager
def _folder_lock(out_dir: Path) -> Iterator[None]:
    """Hold the folder's lock, or raise OutputBusyError at once when another run holds it."""
    if fcntl is None:
        yield
        return
    fd = os.open(out_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusyError(
                f"another run is writing a generated set into {out_dir}; wait for it to "
                "finish (or stop it), or choose another --out"
            ) from None
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise
            logger.info(
                "%s cannot be locked (%s); two runs into it are not kept apart", out_dir, exc
            )
        yield
    finally:
        os.close(fd)  # releases the lock


def _leftovers_note(out_dir: Path, leftovers: list[str]) -> str:
    """What to do with staging folders a stopped run left (no run holds the folder now)."""
    partial = [n for n in leftovers if n.endswith(".partial")]
    old = [n for n in leftovers if n not in partial]
    parts = []
    if partial:
        paths = " ".join(str(out_dir / n) for n in partial)
        parts.append(
            f"{', '.join(partial)}: the unfinished set of a run that was stopped (killed, or the "
            f"machine went down); it is not part of the set: remove it (rm -r {paths})"
        )
    if old:
        parts.append(
            f"{', '.join(old)}: the set a run was replacing when it was stopped mid-swap; "
            f"look whether {out_dir} lacks any of {', '.join(OWNED)}, and remove it when "
            "nothing in it is needed"
        )
    return f"{out_dir} holds " + "; ".join(parts)


def check_output(out_dir: Path, record: Generation, *, overwrite: bool) -> None:
    """Refuse `out_dir` when it is a file, a folder another run is writing into
    (OutputBusyError), or a non-empty folder that holds another generation (or other data)
    and `overwrite` is not set. Run before any work."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputFileError(f"{out_dir} is a file; --out names the folder for the generated set")
    _checked.setdefault(str(out_dir.absolute()), []).append(_state(out_dir))
    if not out_dir.is_dir():
        return
    with _folder_lock(out_dir):  # refused at once while another run writes there
        pass
    entries = sorted(p.name for p in out_dir.iterdir())
    leftovers = [name for name in entries if name.startswith(_STAGING_PREFIX)]
    if leftovers:
        logger.warning("%s", _leftovers_note(out_dir, leftovers))
    entries = [name for name in entries if name not in leftovers]
    if overwrite or not entries or _recorded(out_dir) == record:
        return
    more = f" and {len(entries) - _SHOWN} more" if len(entries) > _SHOWN else ""
    raise OutputExistsError(
        f"{out_dir} is not empty ({', '.join(entries[:_SHOWN])}{more}) and does not hold this "
        f"generation ({_describe(record)}); choose a new or empty folder, or pass --overwrite "
        f"to replace its {', '.join(OWNED)} (other files are left alone)"
    )


def _check_unchanged(out_dir: Path) -> None:
    """Refuse when the folder's set changed since check_output looked (another run swapped
    its set in meanwhile): this run's checks were made on what is no longer there."""
    key = str(out_dir.absolute())
    seen = _checked[key].pop() if _checked.get(key) else None
    if not _checked.get(key):
        _checked.pop(key, None)
    if seen is not None and seen != _state(out_dir):
        raise OutputBusyError(
            f"another run wrote a generated set into {out_dir} while this one was starting; "
            "this run wrote nothing: run it again to check it against that set, or choose "
            "another --out"
        )


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) in this process, so cleanup runs as it does on Ctrl-C;
    a forked render worker still dies of it at once, as before. Main thread only (Python
    delivers signals there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def staged_output(out_dir: Path, record: Generation) -> Iterator[Path]:
    """Yield an empty staging folder; write the set there. On success synth.json is added and
    the staged entries replace out_dir's OWNED ones; on failure, Ctrl-C or SIGTERM the staging
    folder is removed and out_dir is left as it was (removed again if this call made it).
    Refused (OutputBusyError) before anything is made when another run writes into out_dir,
    or has written into it since `check_output`."""
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    with _folder_lock(out_dir), _sigterm_as_exit():
        _check_unchanged(out_dir)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, suffix=".partial", dir=out_dir))
        try:
            yield staging
            text = json.dumps(record, indent=2) + "\n"
            (staging / GENERATION_FILE).write_text(text, encoding="utf-8")
            _swap_in(staging, out_dir)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if made and not any(out_dir.iterdir()):
                out_dir.rmdir()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                logger.warning("stopped: %s is as it was before this run", out_dir)
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
