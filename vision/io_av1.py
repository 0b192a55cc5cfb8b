"""AV1 data as a decoder reads it (AV1 spec 4.10.5, 5.5): an OBU's size, and the largest
frame a sequence header allows, read without decoding (for vision.io_avif's size check)."""

from __future__ import annotations

from dataclasses import dataclass


class Malformed(Exception):
    """The container or AV1 data cannot be read as libavif would read it (the reason)."""


def leb128(data: memoryview | bytes, pos: int) -> tuple[int, int]:
    """An OBU size (AV1 spec 4.10.5) and the position after it; -1 where it is cut short or,
    as dav1d reads it, longer than 8 bytes or 32 bits."""
    value = 0
    for index, byte in enumerate(data[pos : pos + 8]):
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return (value, pos + index + 1) if value < 1 << 32 else (-1, pos)
    return -1, pos


@dataclass
class _Bits:
    """A sequence header's fields, most significant bit first."""

    value: int
    left: int

    def read(self, n: int) -> int:
        if n > self.left:
            raise Malformed("a sequence header is cut short")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def skip_uvlc(self) -> None:
        for zeros in range(32):
            if self.read(1):
                self.read(zeros)
                return
        # 32 zeros: the spec and the decoders disagree on what follows; no encoder writes it.
        raise Malformed("a sequence header holds an out-of-range value")


def max_frame_size(payload: bytes) -> tuple[int, int]:
    """The largest frame a sequence header allows (AV1 spec 5.5.1), as width and height."""
    bits = _Bits(int.from_bytes(payload, "big"), 8 * len(payload))
    bits.read(4)  # seq_profile, still_picture
    if bits.read(1):  # reduced_still_picture_header
        bits.read(5)
    else:
        decoder_model, delay_bits = 0, 0
        if bits.read(1):  # timing_info_present_flag
            bits.read(64)
            if bits.read(1):  # equal_picture_interval
                bits.skip_uvlc()  # num_ticks_per_picture_minus_1
            decoder_model = bits.read(1)
            if decoder_model:
                delay_bits = bits.read(5) + 1
                bits.read(42)
        display_delay = bits.read(1)
        for _ in range(bits.read(5) + 1):  # operating points
            bits.read(12)
            if bits.read(5) > 7:  # seq_level_idx, then seq_tier
                bits.read(1)
            if decoder_model and bits.read(1):
                bits.read(2 * delay_bits + 1)
            if display_delay and bits.read(1):
                bits.read(4)
    width_bits, height_bits = bits.read(4) + 1, bits.read(4) + 1
    return bits.read(width_bits) + 1, bits.read(height_bits) + 1
