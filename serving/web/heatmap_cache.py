"""The heat-map overlays kept on disk: where each is cached, how it is checked when read back,
and the start-up removal of those no key serves any more.

An overlay is kept under `<data_dir>/heatmaps/<model version>/<colour scale>-<digest of
vision/explain.py>/` (`cache_path`), with a digest of itself and of where it is kept written
into the PNG (`with_digest`), so that one damaged on disk, or another put in its place, is
drawn again instead of served (`read_cached`). serving.web.heatmaps draws the overlays and
decides who may see them; this module only keeps them.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import zlib
from pathlib import Path

from serving.data_dir import HEATMAP_CACHE_DIR, make_private_dir, make_private_file
from serving.state import Services
from shanyraq.atomic import atomic_file
from shanyraq.source_digests import code_digests
from vision.explain import OVERLAY_SCALE

# The heat maps' lines, wherever in their code: operators (and the log's readers) find every
# line about heat maps under this one name.
logger = logging.getLogger("serving.web.heatmaps")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
CACHE_DIR = HEATMAP_CACHE_DIR  # below the data folder
# A cached overlay ends with a tEXt chunk holding this keyword and a sha256 in hex, then the
# PNG's IEND chunk (`with_digest`).
_DIGEST_KEYWORD = b"shanyraq-digest\0"
_DIGEST_CHUNK_BYTES = 4 + 4 + len(_DIGEST_KEYWORD) + 64 + 4  # length, type, text, CRC
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def version_folder(model_version: str | None) -> str:
    """The cache folder of a model version: one plain name, never `.`, `..` or hidden (a
    version is free text in model.json; `..` would put the cache beside the data folder's
    other contents, and pruning would remove the current maps at every start). A version
    that had to be changed to make the name carries a digest of itself: `kitchen v1` and
    `kitchen_v1` are two models, and neither may be served the other's overlays."""
    version = model_version or "none"
    name = _UNSAFE.sub("_", version)
    if name.startswith("."):
        name = "_" + name[1:]
    if name == version:
        return name
    return f"{name}-{hashlib.sha256(version.encode()).hexdigest()[:12]}"


def _cache_key(services: Services) -> tuple[str, str]:
    """The folders of the current cache below CACHE_DIR: the model version, and the scale
    with the drawing code's digest (an overlay is drawn by vision.explain: a change to its
    normalisation or blend draws new ones, not the old ones served under the same model)."""
    return version_folder(services.pipeline.model_version), f"{OVERLAY_SCALE}-{_drawing()}"


@functools.cache
def _drawing() -> str:
    return code_digests(("vision.explain",))["vision.explain"][:12]


def cache_path(services: Services, *, sha256: str, sign: str) -> Path:
    folder = services.settings.data_dir.joinpath(CACHE_DIR, *_cache_key(services))
    return folder / sha256[:2] / f"{sha256}-{sign}.png"


def prune_cache(services: Services) -> int:
    """Remove the cached overlays of every other model version and colour scale than the
    current ones (`_cache_key`); the number of files removed.

    Only inside `<data_dir>/heatmaps`, and no symbolic link is followed: one found in the
    cache is removed as a link, and a cache folder that is itself a link is left alone (its
    target may hold anything). A failure is logged, never raised: the service starts anyway.
    """
    root = services.settings.data_dir / CACHE_DIR
    try:
        linked, folder = root.is_symlink(), root.is_dir()
    except OSError as exc:  # a data folder that cannot be searched: the rest of start-up says so
        logger.warning("could not look for old heat maps in %s: %s", root, exc.strerror or exc)
        return 0
    if linked:
        logger.warning(
            "heat-map cache %s is a symbolic link: not cleaned of old models' overlays; make "
            "it a folder, or remove what is not under %s yourself",
            root, "/".join(_cache_key(services)),
        )  # fmt: skip
        return 0
    if not folder:
        return 0
    removed = _prune(root, keep=_cache_key(services))
    if removed:
        logger.info(
            "removed %d cached heat maps of models or colour scales no longer served from %s",
            removed, root,
        )  # fmt: skip
    return removed


def _prune(folder: Path, *, keep: tuple[str, ...]) -> int:
    """Remove every entry of `folder` but the real folder `keep[0]`, and within that one
    every entry but `keep[1]`, and so on; the number of files removed. A folder that cannot
    be listed (another user's, 0700 as the cache's are), or an entry that cannot be looked at
    (in a folder that may be read but not searched), is logged and passed over."""
    removed = 0
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        logger.warning("could not look for old heat maps in %s: %s", folder, exc.strerror or exc)
        return 0
    for entry in entries:
        try:
            kept = entry.name == keep[0] and entry.is_dir() and not entry.is_symlink()
        except OSError as exc:
            logger.warning("could not look at the heat maps %s: %s", entry, exc.strerror or exc)
            continue
        if kept:
            removed += _prune(entry, keep=keep[1:]) if len(keep) > 1 else 0
        else:
            removed += _remove(entry)
    return removed


def _remove(path: Path) -> int:
    """Remove `path` (a file, a link or a whole folder, links not followed); its files."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
            return 1
        files = sum(len(names) for _, _, names in os.walk(path))  # os.walk follows no links
        shutil.rmtree(path)  # removes links inside, never what they point at
    except OSError as exc:
        logger.warning("could not remove the old heat maps at %s: %s", path, exc)
        return 0
    return files


def with_digest(png: bytes, where: str) -> bytes:
    """`png` with a text chunk before its end (still a PNG any browser shows) that records a
    digest of it and of `where` it is cached: an overlay damaged on disk, or another one put
    in its place, is caught when read (`read_cached`)."""
    if not png.endswith(_PNG_END):
        raise ValueError("the heat-map overlay is not a whole PNG")
    text = _DIGEST_KEYWORD + hashlib.sha256(where.encode() + png).hexdigest().encode()
    kind_text = b"tEXt" + text
    chunk = len(text).to_bytes(4, "big") + kind_text + zlib.crc32(kind_text).to_bytes(4, "big")
    return png[: -len(_PNG_END)] + chunk + _PNG_END


def read_cached(path: Path, where: str) -> bytes | None:
    """The cached overlay at `path`, checked against the digest it was cached with; None when
    there is none, or it cannot be read (a folder in its place, a disk error) or does not hold
    what was cached (damaged, replaced, or cached before overlays were checked): logged, and
    the overlay is drawn again from the checked original."""
    try:
        saved = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cached heat map %s cannot be read (%s): drawn again", path, exc.strerror)
        return None
    drawn = saved[: -(_DIGEST_CHUNK_BYTES + len(_PNG_END))] + _PNG_END
    if len(saved) > _DIGEST_CHUNK_BYTES + len(_PNG_END) and with_digest(drawn, where) == saved:
        return saved
    logger.warning(
        "cached heat map %s does not hold what was cached (damaged or replaced on disk, or "
        "cached before overlays were checked): drawn again",
        path,
    )
    return None


def write_cached(services: Services, path: Path, png: bytes) -> None:
    """Keep `png` at `path`; a cache that cannot be written is logged, and the overlay in
    hand is served all the same."""
    try:
        # Overlays of a family's home, private as the photos are: folders 0700, the file 0600.
        make_private_dir(path.parent, private_below=services.settings.data_dir)
        with atomic_file(path) as tmp:  # a temporary of its own: two requests may render one
            make_private_file(tmp)
            tmp.write_bytes(png)
    except OSError as exc:
        logger.warning("heat map not cached at %s: %s", path, exc.strerror or exc)
        return
    logger.info("heat map cached at %s", path)
