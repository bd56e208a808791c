"""The one varint reader and writer (rdlab._varint) that every header field uses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdlab._varint import decode_varint, encode_varint, unzigzag, zigzag
from rdlab.errors import CorruptHeaderError, CorruptStreamError, LengthError, TruncatedError


@given(st.integers(0, 2**63 - 1), st.binary(max_size=4))
def test_round_trip_and_position(value, tail):
    data = b"\x01" + encode_varint(value) + tail
    assert decode_varint(data, 1, "field") == (value, len(data) - len(tail))


@given(st.integers(-(2**62), 2**62))
def test_zigzag_round_trip(value):
    assert zigzag(value) >= 0 and unzigzag(zigzag(value)) == value


def test_bad_varints_are_refused_naming_the_field():
    with pytest.raises(TruncatedError, match="count at byte 1"):
        decode_varint(b"\x00\x80", 1, "count")
    with pytest.raises(CorruptStreamError):  # the caller's own truncation error
        decode_varint(b"\x80\x80", 0, "count", end=1, truncated=CorruptStreamError)
    with pytest.raises(CorruptHeaderError, match="not minimal"):
        decode_varint(b"\x87\x00", 0, "count")  # 7 written in two bytes
    with pytest.raises(LengthError, match="runs over 9 bytes"):
        decode_varint(b"\xff" * 10, 0, "count")
    assert decode_varint(b"\x00", 0, "count") == (0, 1)  # a lone zero is minimal
