"""Tests of the compact .rdl layout: round trips, size, every FormatError, fuzzing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdlab.cli import main
from rdlab.container import (
    COMPACT_HASH_SIZE,
    COMPACT_MAGIC,
    MAGIC,
    Chunk,
    RdlFile,
    decode_rdl,
    describe,
    encode_rdl,
    hash_matches,
    write_rdl,
)
from rdlab.errors import (
    BadMagicError,
    CorruptChunkError,
    CorruptHeaderError,
    FormatError,
    InputError,
    LengthError,
    TrailingDataError,
    TruncatedError,
    UnknownCodecError,
    UnsupportedVersionError,
    WeightsMismatchError,
)

HASH_A = hashlib.sha256(b"weights A").digest()
HASH_B = hashlib.sha256(b"weights B").digest()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample() -> RdlFile:
    """A small valid file: 3 chunks (one empty, one over 127 bytes), unicode metadata."""
    return RdlFile(
        codec="toy-inr",
        codec_version="2",
        model_hash=HASH_A,
        metadata={"shape": [256, 256], "note": "ünïcødé ✓"},
        chunks=(
            Chunk("INRW", bytes(range(256)) * 3),
            Chunk("SEQN", b"\x5a" * 40),
            Chunk("EMPT", b""),
        ),
    )


SAMPLE = encode_rdl(sample(), compact=True)


def reseal(body: bytes) -> bytes:
    """``body`` (a file less its CRC) with a correct CRC appended."""
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_round_trip_keeps_everything_but_the_hash_tail() -> None:
    file = decode_rdl(SAMPLE)
    assert file == dataclasses.replace(sample(), model_hash=HASH_A[:COMPACT_HASH_SIZE])
    assert file.layout is not None and file.layout.format_major == 2
    # Canonical: decoding and encoding again gives the same bytes.
    assert encode_rdl(file, compact=True) == SAMPLE
    assert sample().to_bytes(compact=True) == SAMPLE


def test_layout_offsets_point_at_the_payloads() -> None:
    file = decode_rdl(SAMPLE)
    assert file.layout is not None
    for chunk, offset in zip(file.chunks, file.layout.chunk_offsets, strict=True):
        assert SAMPLE[offset : offset + len(chunk.payload)] == chunk.payload
        assert SAMPLE[offset - 4 - (2 if len(chunk.payload) > 127 else 1) :].startswith(
            chunk.tag.encode()
        )
    info = describe(file)
    assert info["format_version"] == "2.0"
    assert info["model_hash"] == HASH_A[:8].hex()
    assert info["total_size"] == len(SAMPLE)
    assert info["header_size"] == file.layout.chunk_offsets[0] - 6  # tag + 2-byte varint
    assert [c["crc32"] for c in info["chunks"]] == [None] * 3  # one CRC covers the file


def test_written_file_is_shown_by_inspect(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "c.rdl"
    assert write_rdl(path, sample(), compact=True) == len(SAMPLE)
    assert path.read_bytes() == SAMPLE
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "format 2.0" in text and HASH_A[:8].hex() in text and "(file CRC)" in text
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    records = sum(4 + (2 if c["length"] > 127 else 1) + c["length"] for c in report["chunks"])
    assert report["header_size"] + records + 4 == report["total_size"] == len(SAMPLE)


def test_compact_is_smaller_by_the_fixed_fields() -> None:
    """Same content: the long layout's fixed fields take 85 bytes (16 prefix, 4 header
    CRC, 4 chunk count, 16 per chunk, 24 hash bytes more, 3 more length bytes); the
    compact one's 5 magic, 4 CRC and per chunk 4 + a 1-2 byte varint."""
    file = RdlFile("inr", "2", HASH_A, {"shape": [256, 256]}, (Chunk("INRW", bytes(1638)),))
    compact, long = encode_rdl(file, compact=True), encode_rdl(file)
    metadata = len(b'{"shape":[256,256]}')
    assert len(compact) - 1638 == 5 + 4 + 2 + 9 + 1 + metadata + 1 + 4 + 2 + 4 == 51
    assert len(long) - 1638 == 102
    assert compact.startswith(COMPACT_MAGIC)


@pytest.mark.parametrize("hash_", [b"", HASH_A, HASH_A[:8]])
def test_model_hash_forms(hash_: bytes) -> None:
    file = dataclasses.replace(sample(), model_hash=hash_)
    decoded = decode_rdl(encode_rdl(file, compact=True))
    assert decoded.model_hash == hash_[:8]
    assert hash_matches(decoded.model_hash, hash_ if hash_ != HASH_A[:8] else HASH_A)


def test_hash_matches() -> None:
    assert hash_matches(HASH_A, HASH_A)
    assert hash_matches(HASH_A[:8], HASH_A)
    assert hash_matches(b"", b"")
    assert not hash_matches(HASH_A[:8], HASH_B)
    assert not hash_matches(HASH_A[:7], HASH_A)  # only the compact length counts
    assert not hash_matches(b"", HASH_A)
    assert not hash_matches(HASH_A, HASH_B)


def test_expected_hash_is_checked_against_the_prefix() -> None:
    assert decode_rdl(SAMPLE, expected_model_hash=HASH_A).model_hash == HASH_A[:8]
    with pytest.raises(WeightsMismatchError):
        decode_rdl(SAMPLE, expected_model_hash=HASH_B)
    with pytest.raises(UnknownCodecError):
        decode_rdl(SAMPLE, codecs={"toy-inr": ["1"]})
    assert decode_rdl(SAMPLE, codecs={"toy-inr": ["1", "2"]}).codec_version == "2"


def test_encode_refuses_bad_hash_length() -> None:
    with pytest.raises(InputError) as info:
        encode_rdl(dataclasses.replace(sample(), model_hash=b"1234"), compact=True)
    assert info.value.argument == "model_hash"
    with pytest.raises(InputError):  # the long layout keeps its 0-or-32 rule
        encode_rdl(dataclasses.replace(sample(), model_hash=HASH_A[:8]))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (COMPACT_MAGIC[:4], TruncatedError),
        (COMPACT_MAGIC, TruncatedError),
        (SAMPLE[:14], TruncatedError),  # inside the model hash
        (SAMPLE[:30], LengthError),  # the metadata length points past the end
        (SAMPLE[:-1], TruncatedError),  # the CRC field eats the last chunk's head
        (SAMPLE[:-30], LengthError),  # the second chunk declares more than remains
        (MAGIC[:4] + b"\x03" + SAMPLE[5:], UnsupportedVersionError),
        (MAGIC[:4] + b"\x0a" + SAMPLE[5:], BadMagicError),
    ],
    ids=["magic-prefix", "magic", "cut-hash", "cut-meta", "cut-crc", "cut-chunk", "v3", "lf"],
)
def test_format_errors(data: bytes, error: type[FormatError]) -> None:
    with pytest.raises(error):
        decode_rdl(data)


def test_every_single_byte_flip_is_caught() -> None:
    for position in range(len(SAMPLE)):
        damaged = bytearray(SAMPLE)
        damaged[position] ^= 0x01
        with pytest.raises(FormatError):
            decode_rdl(bytes(damaged))


def test_damaged_payload_fails_the_file_crc() -> None:
    damaged = bytearray(SAMPLE)
    damaged[100] ^= 0x80  # inside the first chunk's payload
    with pytest.raises(CorruptChunkError, match="CRC"):
        decode_rdl(bytes(damaged))


def test_trailing_bytes_before_the_crc() -> None:
    with pytest.raises(TrailingDataError):
        decode_rdl(reseal(SAMPLE[:-4] + b"\x00"))


def test_checks_behind_the_crc() -> None:
    file = RdlFile("toy", "1", b"", {"a": 1}, (Chunk("ABCD", b"xy"),))
    body = encode_rdl(file, compact=True)[:-4]
    assert decode_rdl(reseal(body)) == file
    tag = body.index(b"ABCD")
    with pytest.raises(CorruptHeaderError, match="tag"):
        decode_rdl(reseal(body[:tag] + b"AB\x01D" + body[tag + 4 :]))
    meta = body.index(b'{"a":1}')
    with pytest.raises(CorruptHeaderError, match="JSON"):
        decode_rdl(reseal(body[:meta] + b'{"a":}' + b" " + body[meta + 7 :]))
    with pytest.raises(CorruptHeaderError, match="not minimal"):  # 7 as 0x87 0x00
        decode_rdl(reseal(body[: meta - 1] + b"\x87\x00" + body[meta:]))
    with pytest.raises(CorruptHeaderError, match="model hash"):  # a 1-byte hash
        decode_rdl(reseal(body[:11] + b"\x01\x00" + body[12:]))
    with pytest.raises(CorruptHeaderError, match="empty"):  # an empty codec name
        decode_rdl(reseal(COMPACT_MAGIC + b"\x00" + body[9:]))


def test_oversized_counts_are_refused_before_allocating() -> None:
    body = COMPACT_MAGIC + b"\x01t\x011\x00\x00" + b"\xff\xff\xff\xff\x0f"
    with pytest.raises(LengthError):
        decode_rdl(reseal(body))
    with pytest.raises(LengthError, match="over 9 bytes"):
        decode_rdl(reseal(COMPACT_MAGIC + b"\x01t\x011\x00\x00" + b"\xff" * 12))


def decode_or_format_error(data: bytes) -> None:
    try:
        result = decode_rdl(data)
    except FormatError:
        return
    assert decode_rdl(encode_rdl(result, compact=True)) == result


@FUZZ
@given(st.data())
def test_random_mutations(data: st.DataObject) -> None:
    blob = bytearray(SAMPLE)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        position = data.draw(st.integers(0, max(len(blob) - 1, 0)))
        if kind == "set" and blob:
            blob[position] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            blob[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del blob[position : position + data.draw(st.integers(1, 8))]
        else:
            del blob[position:]
    decode_or_format_error(bytes(blob))


@FUZZ
@given(st.binary(max_size=256), st.booleans())
def test_random_bytes_after_the_magic(blob: bytes, sealed: bool) -> None:
    data = COMPACT_MAGIC + blob
    decode_or_format_error(reseal(data) if sealed else data)


def test_varints_and_zigzag() -> None:
    from rdlab._varint import encode_varint, unzigzag, zigzag

    assert encode_varint(0) == b"\x00" and encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01" and encode_varint(300) == b"\xac\x02"
    assert len(encode_varint(2**63 - 1)) == 9
    with pytest.raises(InputError):
        encode_varint(-1)
    assert [zigzag(v) for v in (0, -1, 1, -2, 2)] == [0, 1, 2, 3, 4]
    assert all(unzigzag(zigzag(v)) == v for v in range(-1000, 1000))
