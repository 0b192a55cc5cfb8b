"""How large is an AVIF's picture really? Read from its AV1 sequence headers, before decoding.

Pillow reports, and `vision.io_checks` judges, the size the container states (an item's `ispe`,
a track's `tkhd`); libavif decodes the AV1 data at the size its sequence header gives (AV1 spec
5.5, read by vision.io_av1) and scales it to the stated one: a file stating 64x64 over 8192x8192
cost 67 MP of decoding. Each AV1 picture libavif may decode for the first frame (every `av01`
item: primary, grid tile, alpha, gain map; the first sample of every `av01` track) is refused
here when a sequence header in its data or `av1C` gives a size over the limit, larger than
stated, or none. Bounded on hostile input: boxes are walked by their sizes within their
container, only known containers are entered, and the boxes, records and OBUs of one file are
counted against one cap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from shanyraq.errors import CorruptImageError, ImageTooLargeError
from vision.io_av1 import Malformed, leb128, max_frame_size

logger = logging.getLogger(__name__)

# Boxes, item records, property associations, references and OBUs in one file: a phone's AVIF
# has a few dozen, a 50 MP grid of 512 x 512 tiles a few thousand.
_MAX_STRUCTURES = 50_000
# A sequence header holds at most about 400 bytes (32 operating points of 90 bits each).
_SEQUENCE_HEADER_BYTES = 512
# A grid's tiles cover its canvas and may overhang it by less than one tile: padding, decoded
# and cropped. Above the pixel limit, the tiles may hold this much more than the stated size.
_GRID_PADDING = 1.25


class _Box(NamedTuple):
    kind: bytes
    start: int  # payload (after the header)
    end: int


@dataclass
class _Picture:
    """One AV1 picture: the sizes the file states for it and those its sequence headers give."""

    declared: list[tuple[int, int]] = field(default_factory=list)
    coded: list[tuple[int, int]] = field(default_factory=list)


class _Reader:
    """Big-endian fields of one box, never read past its end."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.pos, self.end = data, start, end

    def uint(self, size: int, *, skip: int = 0) -> int:  # the next field, after `skip` bytes
        self.pos += skip + size
        if self.pos > self.end:
            raise Malformed("a box is shorter than its fields")
        return int.from_bytes(self.data[self.pos - size : self.pos], "big")


def check_avif_coded_size(data: bytes, max_pixels: int | None) -> None:
    """Refuse an AVIF whose AV1 pictures are over `max_pixels` (None: no limit), larger than
    the file says, or unreadable; nothing is decoded."""
    try:
        pictures, grids = _Avif(data).pictures()
    except Malformed as exc:
        logger.info("unreadable AVIF container: %s", exc)
        raise CorruptImageError(
            f"the AVIF header cannot be read ({exc}); the file is damaged: take or export the "
            "photo again"
        ) from None
    for picture in pictures.values():
        for width, height in picture.coded:
            if max_pixels is not None and width * height > max_pixels:
                raise _too_large(f"is {width}x{height}", width * height, max_pixels)
            for stated_width, stated_height in picture.declared:
                if width * height > stated_width * stated_height:
                    raise CorruptImageError(
                        f"the AVIF says its image is {stated_width}x{stated_height}, but its "
                        f"AV1 data is {width}x{height}; the file is damaged or made to hide its "
                        "size: take or export the photo again"
                    )
    for grid, tiles in grids.items():  # every tile is decoded, a tile named twice twice
        canvas = sum(max((w * h for w, h in pictures[tile].coded), default=0) for tile in tiles)
        stated = min((w * h for w, h in pictures[grid].declared), default=0)
        if max_pixels is not None and canvas > max_pixels and canvas > _GRID_PADDING * stated:
            raise _too_large(f"is a grid of {len(tiles)} tiles", canvas, max_pixels)


def _too_large(what: str, pixels: int, max_pixels: int) -> ImageTooLargeError:
    """As `vision.io_checks.check_pixel_limit` words it."""
    return ImageTooLargeError(
        f"the image {what} ({pixels / 1e6:.1f} MP), over the limit of {max_pixels / 1e6:.0f} "
        "MP; send a smaller photo"
    )


class _Avif:
    """The AV1 pictures of one file, found box by box."""

    def __init__(self, data: bytes) -> None:
        self.data, self.view = data, memoryview(data)  # views: an image's data is never copied
        self.structures, self.copied = 0, 0  # copied: of items in several extents, joined

    def count(self, n: int = 1) -> None:
        self.structures += n
        if self.structures > _MAX_STRUCTURES:
            raise Malformed(f"more than {_MAX_STRUCTURES} boxes, records or OBUs")

    def boxes(self, start: int, end: int, *, top: bool = False) -> Iterator[_Box]:
        """The boxes from `start` to `end`. At the top level a box that does not fit ends the
        walk (libavif cannot read past it either; a missing part is refused later)."""
        data, pos = self.data, start
        while pos < end:
            self.count()
            size, head = int.from_bytes(data[pos : pos + 4], "big"), 8
            if end - pos < 8:
                size = -1
            elif size == 1:
                size, head = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
            elif size == 0:  # to the end of its container
                size = end - pos
            kind = bytes(data[pos + 4 : pos + 8])
            head += 16 if kind == b"uuid" else 0
            if size < head or pos + size > end:
                if top:
                    return
                raise Malformed(f"a {kind.decode('latin-1')!r} box's size does not fit it")
            yield _Box(kind, pos + head, pos + size)
            pos += size

    def unique(
        self, start: int, end: int, kinds: tuple[bytes, ...], *, top: bool = False
    ) -> dict[bytes, _Box]:
        """The boxes of these kinds from `start` to `end`, each at most once (as libavif)."""
        found: dict[bytes, _Box] = {}
        for box in self.boxes(start, end, top=top):
            if box.kind in found:
                raise Malformed(f"more than one {box.kind.decode('latin-1')!r} box")
            if box.kind in kinds:
                found[box.kind] = box
        return found

    def child(self, parent: _Box | None, kind: bytes, *, skip: int = 0) -> _Box | None:
        """The one `kind` box in `parent` (after `skip` bytes of its own fields), or None."""
        found = self.unique(parent.start + skip, parent.end, (kind,)) if parent else {}
        return found.get(kind)

    def pictures(self) -> tuple[dict[object, _Picture], dict[object, list[object]]]:
        """Every AV1 picture (keyed by item ID, or by track), and each grid's tile IDs."""
        pictures: dict[object, _Picture] = {}
        grids: dict[object, list[object]] = {}
        top = self.unique(0, len(self.data), (b"meta", b"moov"), top=True)
        if b"meta" in top:
            self.items(top[b"meta"], pictures, grids)
        moov = top.get(b"moov") or _Box(b"", 0, 0)
        for trak in (box for box in self.boxes(moov.start, moov.end) if box.kind == b"trak"):
            self.track(trak, pictures)
        if not pictures:
            raise Malformed("it holds no AV1 image, or is cut short")
        return pictures, grids

    def items(self, meta: _Box, pictures: dict, grids: dict) -> None:
        found = self.unique(meta.start + 4, meta.end, (b"iinf", b"iloc", b"iprp", b"idat", b"iref"))
        if missing := {b"iinf", b"iloc", b"iprp"} - found.keys():
            raise Malformed(f"it has no {min(missing).decode()!r} box")
        types = self.item_types(found[b"iinf"])
        locations = self.item_locations(found[b"iloc"])
        properties, associations = self.item_properties(found[b"iprp"])
        idat = found.get(b"idat")
        for item_id, item_type in types.items():
            if item_type not in (b"av01", b"grid"):
                continue
            picture = pictures[item_id] = _Picture()
            for index in associations.get(item_id, []):
                if index > len(properties):
                    raise Malformed(f"item {item_id} has a property the file does not hold")
                prop = properties[index - 1]
                if prop.kind == b"ispe":
                    fields = _Reader(self.data, prop.start + 4, prop.end)
                    picture.declared.append((fields.uint(4), fields.uint(4)))
                elif prop.kind == b"av1C" and item_type == b"av01":
                    self.read_obus(self.view[prop.start + 4 : prop.end], picture)
            if item_type == b"av01":
                if item_id not in locations:
                    raise Malformed(f"AV1 item {item_id} has no location")
                self.read_obus(self.item_data(locations[item_id], idat), picture)
                if not picture.coded:
                    raise Malformed(f"AV1 item {item_id} has no sequence header")
        for from_id, to_ids in self.references(found.get(b"iref"), b"dimg"):
            if types.get(from_id) == b"grid":  # tiles that are not AV1 make libavif fail
                tiles = [tile for tile in to_ids if types.get(tile) == b"av01"]
                grids.setdefault(from_id, []).extend(tiles)

    def item_types(self, iinf: _Box) -> dict[int, bytes]:
        types: dict[int, bytes] = {}
        version = _Reader(self.data, iinf.start, iinf.end).uint(1)
        skip = 4 + (2 if version == 0 else 4)  # version, flags and entry count
        for infe in self.boxes(iinf.start + skip, iinf.end):
            fields = _Reader(self.data, infe.start, infe.end)
            if infe.kind != b"infe" or (version := fields.uint(1)) < 2:  # 0, 1: no item type
                continue
            item_id = fields.uint(2 if version == 2 else 4, skip=3)
            if item_id in types:
                raise Malformed(f"item {item_id} is listed twice")
            types[item_id] = fields.uint(4, skip=2).to_bytes(4, "big")  # after protection index
        return types

    def item_locations(self, iloc: _Box) -> dict[int, tuple[int, list[tuple[int, int]]]]:
        """Each item's construction method and extents (offset, length; 0: to the end)."""
        fields = _Reader(self.data, iloc.start, iloc.end)
        version = fields.uint(1)
        sizes = fields.uint(2, skip=3)
        offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
        index_size = sizes & 15 if version in (1, 2) else 0
        if version > 2 or {offset_size, length_size, base_size, index_size} - {0, 4, 8}:
            raise Malformed("its item locations are of an unknown layout")
        locations: dict[int, tuple[int, list[tuple[int, int]]]] = {}
        for _ in range(fields.uint(4 if version == 2 else 2)):
            self.count()
            item_id = fields.uint(4 if version == 2 else 2)
            method = fields.uint(2) & 15 if version in (1, 2) else 0
            base = fields.uint(base_size, skip=2)  # after the data reference index
            extents = []
            for _ in range(fields.uint(2)):
                self.count()
                offset = base + fields.uint(offset_size, skip=index_size)
                extents.append((offset, fields.uint(length_size)))
            if item_id in locations:
                raise Malformed(f"item {item_id} is located twice")
            locations[item_id] = (method, extents)
        return locations

    def item_properties(self, iprp: _Box) -> tuple[list[_Box], dict[int, list[int]]]:
        """The properties (`ipco`, in order) and each item's property indices (from 1)."""
        ipco = self.child(iprp, b"ipco")
        properties = list(self.boxes(ipco.start, ipco.end)) if ipco is not None else []
        associations: dict[int, list[int]] = {}
        for ipma in (box for box in self.boxes(iprp.start, iprp.end) if box.kind == b"ipma"):
            fields = _Reader(self.data, ipma.start, ipma.end)
            version, flags = fields.uint(1), fields.uint(3)
            for _ in range(fields.uint(4)):
                self.count()
                indices = associations.setdefault(fields.uint(2 if version < 1 else 4), [])
                count = fields.uint(1)
                self.count(count)
                for _ in range(count):
                    value = fields.uint(2) & 0x7FFF if flags & 1 else fields.uint(1) & 0x7F
                    if value:
                        indices.append(value)
        return properties, associations

    def references(self, iref: _Box | None, kind: bytes) -> Iterator[tuple[int, list[int]]]:
        if iref is None:
            return
        id_size = 2 if _Reader(self.data, iref.start, iref.end).uint(1) == 0 else 4
        for box in (box for box in self.boxes(iref.start + 4, iref.end) if box.kind == kind):
            fields = _Reader(self.data, box.start, box.end)
            from_id, count = fields.uint(id_size), fields.uint(2)
            self.count(count)
            yield from_id, [fields.uint(id_size) for _ in range(count)]

    def item_data(
        self, location: tuple[int, list[tuple[int, int]]], idat: _Box | None
    ) -> memoryview | bytes:
        method, extents = location
        if method == 0:
            origin, end = 0, len(self.data)
        elif method == 1 and idat is not None:
            origin, end = idat.start, idat.end
        else:
            raise Malformed("an image's data is stored in a way libavif does not read")
        spans = [(origin + at, origin + at + length if length else end) for at, length in extents]
        if any(start > end or stop > end for start, stop in spans):
            raise Malformed("an image's data runs past the end of the file; it is truncated")
        if len(spans) == 1:
            return self.view[spans[0][0] : spans[0][1]]
        self.copied += sum(stop - start for start, stop in spans)
        if self.copied > len(self.data):
            raise Malformed("its images share their data over and over")
        return b"".join(self.data[start:stop] for start, stop in spans)

    def track(self, trak: _Box, pictures: dict) -> None:
        tkhd = self.child(trak, b"tkhd")
        stbl = self.child(self.child(self.child(trak, b"mdia"), b"minf"), b"stbl")
        stsd = self.child(stbl, b"stsd") or _Box(b"", 0, 0)
        entries = [box for box in self.boxes(stsd.start + 8, stsd.end) if box.kind == b"av01"]
        if stbl is None or not entries:
            return  # not an AV1 track
        picture = pictures[("track", trak.start)] = _Picture()
        if tkhd is not None:
            fields = _Reader(self.data, tkhd.start, tkhd.end)
            width = fields.uint(4, skip=3 + (32 if fields.uint(1) == 1 else 20) + 52)
            picture.declared.append((width >> 16, fields.uint(4) >> 16))
        for entry in entries:
            config = self.child(entry, b"av1C", skip=78)  # a VisualSampleEntry's fields
            if config is not None:
                self.read_obus(self.view[config.start + 4 : config.end], picture)
        self.read_obus(self.first_sample(stbl), picture)
        if not picture.coded:
            raise Malformed("an AV1 track has no sequence header")

    def first_sample(self, stbl: _Box) -> memoryview:
        """The first sample: what libavif decodes for the first frame."""
        stco, co64, stsz = (self.child(stbl, kind) for kind in (b"stco", b"co64", b"stsz"))
        chunks = stco or co64
        if chunks is None or stsz is None:
            raise Malformed("an AV1 track has no sample table")
        offsets = _Reader(self.data, chunks.start + 4, chunks.end)
        sizes = _Reader(self.data, stsz.start + 4, stsz.end)
        sample_size, count = sizes.uint(4), sizes.uint(4)
        if offsets.uint(4) == 0 or count == 0:
            raise Malformed("an AV1 track has no samples")
        offset = offsets.uint(4 if chunks is stco else 8)
        size = sample_size or sizes.uint(4)  # one size for all samples, or each its own
        if offset + size > len(self.data):
            raise Malformed("a frame runs past the end of the file; it is truncated")
        return self.view[offset : offset + size]

    def read_obus(self, data: memoryview | bytes, picture: _Picture) -> None:
        """Add the size of every sequence header among the OBUs in `data` (AV1 spec 5.3)."""
        pos = 0
        while pos < len(data):
            self.count()
            header = data[pos]
            obu_type, extended, sized = (header >> 3) & 15, (header >> 2) & 1, (header >> 1) & 1
            pos += 1 + extended
            size, pos = leb128(data, pos) if sized else (len(data) - pos, pos)  # or to the end
            if size < 0 or pos + size > len(data):
                return  # decoders stop at this OBU too: nothing after it is ever decoded
            if obu_type == 1:  # OBU_SEQUENCE_HEADER
                payload = bytes(data[pos : pos + min(size, _SEQUENCE_HEADER_BYTES)])
                picture.coded.append(max_frame_size(payload))
            pos += size
