"""Unsigned LEB128 varints and the zigzag map, for the small integers of headers.

A varint holds 7 bits per byte, the low group first; every byte but the last has its
high bit set. :func:`encode_varint` writes the minimal form and :func:`decode_varint`
reads only that (the container, the INR protein side information and the C-alpha
baseline all use the pair).
"""

from __future__ import annotations

from .errors import CorruptHeaderError, FormatError, InputError, LengthError, TruncatedError

__all__ = ["decode_varint", "encode_varint", "unzigzag", "zigzag"]

MAX_VARINT_BYTES = 9
"""Most bytes :func:`decode_varint` reads by default (63 bits)."""


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


def decode_varint(
    data: bytes,
    pos: int,
    what: str,
    *,
    end: int | None = None,
    max_bytes: int = MAX_VARINT_BYTES,
    truncated: type[FormatError] = TruncatedError,
) -> tuple[int, int]:
    """The minimal varint at ``data[pos:end]`` and the position after it.

    Args:
        data: the bytes.
        pos: where the varint starts.
        what: names the field in error messages.
        end: where the readable bytes end (default: ``len(data)``).
        max_bytes: the longest varint accepted.
        truncated: the error raised when the bytes end inside the varint.

    Returns:
        ``(value, next_pos)``.

    Raises:
        FormatError: ``truncated`` when the bytes end first;
            :class:`~rdlab.errors.CorruptHeaderError` for a non-minimal varint (a final
            zero byte after others); :class:`~rdlab.errors.LengthError` for one longer
            than ``max_bytes``.
    """
    stop = len(data) if end is None else end
    start, value = pos, 0
    for index in range(max_bytes):
        if pos >= stop:
            raise truncated(f"{what} at byte {start} is cut off: the data ends inside it")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if byte == 0 and index > 0:
                raise CorruptHeaderError(f"{what} at byte {pos - 1} is not minimal")
            return value, pos
    raise LengthError(f"{what} at byte {pos - 1} runs over {max_bytes} bytes")
