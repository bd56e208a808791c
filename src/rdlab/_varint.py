"""Unsigned LEB128 varints and the zigzag map, for the small integers of headers.

A varint holds 7 bits per byte, the low group first; every byte but the last has its
high bit set. :func:`encode_varint` writes the minimal form. Readers stay with their
formats (each checks lengths and names its own errors): :mod:`rdlab.container`,
:mod:`rdlab.inr.modalities`, :mod:`rdlab.eval.baselines`.
"""

from __future__ import annotations

from .errors import InputError

__all__ = ["encode_varint", "unzigzag", "zigzag"]


def encode_varint(value: int) -> bytes:
    """``value`` (a non-negative int) as a minimal unsigned LEB128 varint."""
    if value < 0:
        raise InputError("value", f"a varint holds non-negative integers, got {value}")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def zigzag(value: int) -> int:
    """A signed int as a non-negative one: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    """Inverse of :func:`zigzag`."""
    return value // 2 if value % 2 == 0 else -(value + 1) // 2
