"""ICC colour profiles for the decoding tests: a version 2 RGB display profile written tag by
tag, and Adobe RGB (1998)'s colorimetry to fill one with."""

from __future__ import annotations

import struct

D50 = (0.9642, 1.0, 0.8249)  # the ICC profile connection space's white
# Adobe RGB (1998)'s primaries adapted to D50, as its own profile holds them; gamma 2.2 as an
# ICC curve stores it (u8Fixed8: 563/256).
ADOBE_COLORANTS = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087),
                   (0.14919, 0.06322, 0.74457))  # fmt: skip
ADOBE_GAMMA = 563 / 256


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def rgb_profile(colorants, gamma: float, name: str) -> bytes:
    """A version 2 matrix/curve RGB display profile, written tag by tag (ICC.1:2001-04)."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)

    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    ascii_name = name.encode() + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(ascii_name)) + ascii_name + bytes(8 + 3 + 67)
    tags = [(b"desc", desc), (b"cprt", b"text" + bytes(4) + b"none\0"), (b"wtpt", xyz(*D50))]
    tags += [(sig, xyz(*c)) for sig, c in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)]
    tags += [(sig, curve) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = struct.pack(">I", offset + len(body)) + bytes(4) + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(4 * 4 + 8 + 4)
    header += _s15(D50[0]) + _s15(D50[1]) + _s15(D50[2])
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body
