"""Tests of the .rdl container: round trips, every FormatError, fuzzing, files, model hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdlab.container import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    MAX_HEADER_LENGTH,
    Chunk,
    RdlFile,
    decode_rdl,
    describe,
    encode_rdl,
    model_hash,
    read_rdl,
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
    """A small valid file: 3 chunks (one empty), unicode metadata, a model hash."""
    return RdlFile(
        codec="toy-hyperprior",
        codec_version="1.2",
        model_hash=HASH_A,
        metadata={"shape": [3, 32, 32], "lambda": 0.0130, "note": "ünïcødé ✓"},
        chunks=(
            Chunk("LATN", bytes(range(100))),
            Chunk("HYPR", b"\x5a" * 40),
            Chunk("EMPT", b""),
        ),
    )


SAMPLE = encode_rdl(sample())
LAYOUT = decode_rdl(SAMPLE).layout
assert LAYOUT is not None


def put(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with the integer at ``offset`` replaced (struct format ``fmt``)."""
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def reseal(data: bytes) -> bytes:
    """``data`` with its header CRC recomputed (to reach the checks behind the CRC)."""
    (header_length,) = struct.unpack_from("<I", data, 12)
    if 16 + header_length + 4 > len(data):
        return data  # nowhere to put it: the length check will refuse the file anyway
    return put(data, 16 + header_length, "<I", zlib.crc32(data[8 : 16 + header_length]))


def build(
    codec: bytes = b"toy",
    version: bytes = b"1",
    hash_: bytes = b"",
    metadata: bytes = b"{}",
    *,
    major: int = FORMAT_MAJOR,
    minor: int = FORMAT_MINOR,
    extra: bytes = b"",
    chunks: bytes = b"\x00\x00\x00\x00",
) -> bytes:
    """Hand-assemble a file with a correct header CRC from raw field contents."""
    block = (
        bytes([len(codec)])
        + codec
        + bytes([len(version)])
        + version
        + bytes([len(hash_)])
        + hash_
        + struct.pack("<I", len(metadata))
        + metadata
        + extra
    )
    head = struct.pack("<HHI", major, minor, len(block)) + block
    return MAGIC + head + struct.pack("<I", zlib.crc32(head)) + chunks


def chunk_record(tag: bytes, payload: bytes) -> bytes:
    """One raw chunk record with a correct CRC."""
    crc = zlib.crc32(payload, zlib.crc32(tag))
    return tag + struct.pack("<QI", len(payload), crc) + payload


def decode_or_format_error(data: bytes) -> RdlFile | None:
    """Decode ``data``; a FormatError gives None, any other exception fails the test."""
    try:
        result = decode_rdl(data)
    except FormatError:
        return None
    # Whatever the reader accepts, the writer can write again, in the same layout.
    assert result.layout is not None
    compact = result.layout.format_major == 2
    assert decode_rdl(encode_rdl(result, compact=compact)) == result
    return result


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    "file",
    [
        sample(),
        RdlFile("toy", "1", b"", {}, ()),
        RdlFile("toy", "1", HASH_B, {"a": None}, (Chunk("ONLY", b""),)),
        RdlFile(
            "c" * 255,
            "v" * 255,
            b"",
            {"nested": {"list": [1, 2.5, "x", None, True, {"k": []}]}, "日本": "語"},
            (Chunk("LATN", b"\x00" * 1000), Chunk("LATN", b"second"), Chunk("a b~", b"\xff")),
        ),
    ],
    ids=["sample", "zero-chunks", "one-empty-chunk", "long-names-unicode"],
)
def test_round_trip(file: RdlFile) -> None:
    data = encode_rdl(file)
    decoded = decode_rdl(data)
    assert decoded == file
    assert decoded.to_bytes() == data
    assert decode_rdl(bytearray(data)) == file
    assert decode_rdl(memoryview(data)) == file


def test_encoding_is_deterministic_and_ignores_key_order() -> None:
    one = sample()
    two = dataclasses.replace(one, metadata=dict(reversed(list(one.metadata.items()))))
    assert list(one.metadata) != list(two.metadata)
    assert encode_rdl(one) == encode_rdl(one) == encode_rdl(two) == SAMPLE


def test_layout_header_and_bytes() -> None:
    data = SAMPLE
    assert data.startswith(MAGIC)
    assert struct.unpack_from("<HH", data, 8) == (1, 0)
    assert LAYOUT.header_size == 24 + LAYOUT.header_length
    assert struct.unpack_from("<I", data, LAYOUT.header_size - 4) == (3,)
    meta = json.dumps(sample().metadata, sort_keys=True, separators=(",", ":")).encode()
    assert meta in data  # canonical, compact JSON


def test_describe_reports_true_offsets() -> None:
    file = decode_rdl(SAMPLE)
    info = describe(file)
    json.dumps(info)  # JSON-ready
    assert info["format_version"] == "1.0"
    assert info["codec"] == "toy-hyperprior" and info["codec_version"] == "1.2"
    assert info["model_hash"] == HASH_A.hex()
    assert info["metadata"] == sample().metadata
    assert info["total_size"] == len(SAMPLE)
    assert info["header_size"] == LAYOUT.header_size
    assert info["payload_bytes"] == 140
    assert [c["tag"] for c in info["chunks"]] == ["LATN", "HYPR", "EMPT"]
    for entry, chunk in zip(info["chunks"], file.chunks, strict=True):
        offset, length = entry["offset"], entry["length"]
        assert SAMPLE[offset : offset + length] == chunk.payload
        assert struct.unpack_from("<I", SAMPLE, offset - 4) == (int(entry["crc32"], 16),)
    assert describe(sample()) == info  # built in memory: offsets of the canonical encoding
    assert describe(file, size_bytes=999)["total_size"] == 999
    assert describe(RdlFile("toy", "1", b"", {}))["model_hash"] is None


def test_describe_uses_the_decoded_layout_not_the_canonical_one() -> None:
    data = build(
        metadata=b'{ "a" : 1 }', chunks=struct.pack("<I", 1) + chunk_record(b"DATA", b"xy")
    )
    file = decode_rdl(data)
    (entry,) = describe(file)["chunks"]
    assert data[entry["offset"] : entry["offset"] + 2] == b"xy"
    assert describe(file)["total_size"] == len(data)
    assert len(file.to_bytes()) < len(data)  # re-encoding is canonical (compact JSON)
    assert dataclasses.replace(file).layout is None  # replace() does not carry stale offsets


def test_chunk_lookup() -> None:
    file = RdlFile("toy", "1", b"", {}, [Chunk("LATN", b"1"), Chunk("LATN", b"2")])
    assert isinstance(file.chunks, tuple)
    assert file.chunk("LATN") == b"1"
    with pytest.raises(CorruptHeaderError, match=r"missing chunk 'HYPR'.*LATN"):
        file.chunk("HYPR")


def test_tuples_in_metadata_come_back_as_lists() -> None:
    file = RdlFile("toy", "1", b"", {"shape": (1, 2)})
    assert decode_rdl(encode_rdl(file)).metadata == {"shape": [1, 2]}


def test_later_minor_version_with_optional_fields_is_read() -> None:
    file = decode_rdl(build(minor=7, extra=b"future optional field"))
    assert file.codec == "toy"
    assert describe(file)["format_version"] == "1.7"
    with pytest.raises(CorruptHeaderError, match="after its last field"):
        decode_rdl(build(minor=0, extra=b"x"))


def test_many_chunks_decode_in_linear_time() -> None:
    file = RdlFile("toy", "1", b"", {}, tuple(Chunk("TINY", b"") for _ in range(50_000)))
    data = encode_rdl(file)
    start = time.perf_counter()
    assert decode_rdl(data) == file
    assert time.perf_counter() - start < 2.0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=15,
)
names = st.text(min_size=1, max_size=30).filter(str.isprintable)
tags = st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)], min_size=4, max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    codec=names,
    version=names,
    hash_=st.sampled_from([b"", HASH_A]),
    metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    chunks=st.lists(st.builds(Chunk, tags, st.binary(max_size=64)), max_size=5),
)
def test_round_trip_property(
    codec: str, version: str, hash_: bytes, metadata: dict, chunks: list[Chunk]
) -> None:
    file = RdlFile(codec, version, hash_, metadata, tuple(chunks))
    data = encode_rdl(file)
    assert decode_rdl(data) == file
    assert encode_rdl(decode_rdl(data)) == data


# ------------------------------------------------------------------------ encode refusals


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"codec": ""}, "codec"),
        ({"codec": "x" * 256}, "codec"),
        ({"codec": "é" * 128}, "codec"),  # 256 bytes in UTF-8
        ({"codec": "tab\there"}, "codec"),
        ({"codec": 3}, "codec"),
        ({"codec_version": ""}, "codec_version"),
        ({"model_hash": b"\x00" * 5}, "model_hash"),
        ({"model_hash": "00" * 32}, "model_hash"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"metadata": {"x": object()}}, "metadata"),
        ({"metadata": {"x": float("nan")}}, "metadata"),
        ({"metadata": {"x": [float("inf")]}}, "metadata"),
        ({"metadata": {1: "int key"}}, "metadata"),
        ({"metadata": {"x": {2: "nested int key"}}}, "metadata"),
        ({"metadata": {"x": {1, 2}}}, "metadata"),
        ({"metadata": {"x": np.float32(1.0)}}, "metadata"),
        ({"metadata": {"big": "x" * (MAX_HEADER_LENGTH + 1)}}, "metadata"),
        ({"chunks": (Chunk("LAT", b""),)}, "chunks[0].tag"),
        ({"chunks": (Chunk("LATNX", b""),)}, "chunks[0].tag"),
        ({"chunks": (Chunk("ok!!", b""), Chunk("LATé", b""))}, "chunks[1].tag"),
        ({"chunks": (Chunk("LA\nT", b""),)}, "chunks[0].tag"),
        ({"chunks": (Chunk("LATN", "text"),)}, "chunks[0].payload"),
        ({"chunks": ("LATN",)}, "chunks[0]"),
    ],
)
def test_encode_refuses_invalid_fields(change: dict, argument: str) -> None:
    file = dataclasses.replace(sample(), **change)
    with pytest.raises(InputError) as info:
        encode_rdl(file)
    assert info.value.argument == argument


def test_deeply_nested_metadata_is_refused() -> None:
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(InputError, match="metadata"):
        encode_rdl(RdlFile("toy", "1", b"", {"x": nested}))


# ------------------------------------------------------------------------ format errors


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", TruncatedError),
        (MAGIC[:5], TruncatedError),
        (SAMPLE[:14], TruncatedError),  # magic complete, version/length cut
        (b"PK\x03", BadMagicError),
        (b"PK\x03\x04" + SAMPLE[4:], BadMagicError),
        (SAMPLE.replace(b"\r\n", b"\n", 1), BadMagicError),  # text-mode transfer
        (b"\x89rdl" + SAMPLE[4:], BadMagicError),
    ],
    ids=["empty", "magic-prefix", "cut-version", "short-junk", "zip", "crlf", "case"],
)
def test_magic(data: bytes, error: type[FormatError]) -> None:
    with pytest.raises(error):
        decode_rdl(data)


def test_text_mode_damage_gets_a_hint() -> None:
    with pytest.raises(BadMagicError, match="text-mode"):
        decode_rdl(SAMPLE.replace(b"\r\n", b"\n", 1))


@pytest.mark.parametrize("major", [0, 2, 0xFFFF])
def test_unknown_major_version(major: int) -> None:
    with pytest.raises(UnsupportedVersionError, match=f"{major}\\.0"):
        decode_rdl(put(SAMPLE, 8, "<H", major))


def test_unknown_codec_and_codec_version() -> None:
    with pytest.raises(UnknownCodecError, match=r"'toy-hyperprior'.*'1.2'.*known codecs: a, b"):
        decode_rdl(SAMPLE, codecs={"a": ["1"], "b": ["1"]})
    with pytest.raises(UnknownCodecError, match=r"'1.2'.*supported versions: 1.0, 1.1"):
        decode_rdl(SAMPLE, codecs={"toy-hyperprior": {"1.1", "1.0"}})
    assert decode_rdl(SAMPLE, codecs={"toy-hyperprior": ("1.2",)}) == sample()
    with pytest.raises(InputError, match="codecs"):
        decode_rdl(SAMPLE, codecs={"toy-hyperprior": "1.2"})  # a str is not a set of versions


def test_weights_mismatch() -> None:
    assert decode_rdl(SAMPLE, expected_model_hash=HASH_A) == sample()
    with pytest.raises(WeightsMismatchError) as info:
        decode_rdl(SAMPLE, expected_model_hash=HASH_B)
    assert HASH_A.hex()[:12] in str(info.value) and HASH_B.hex()[:12] in str(info.value)
    with pytest.raises(WeightsMismatchError, match="none"):
        decode_rdl(build(), expected_model_hash=HASH_B)
    with pytest.raises(InputError, match="expected_model_hash"):
        decode_rdl(SAMPLE, expected_model_hash=b"short")


def test_truncated() -> None:
    with pytest.raises(TruncatedError, match="chunk 2 head"):
        decode_rdl(SAMPLE[:-1])  # the last chunk is empty: the cut falls in its head
    with pytest.raises(TruncatedError, match="chunk count"):
        decode_rdl(SAMPLE[: LAYOUT.header_size - 2])
    with pytest.raises(TruncatedError, match="header CRC"):
        decode_rdl(SAMPLE[: 16 + LAYOUT.header_length + 1])


def test_corrupt_chunk() -> None:
    data = bytearray(SAMPLE)
    data[LAYOUT.chunk_offsets[1] + 3] ^= 0x10
    with pytest.raises(CorruptChunkError, match=r"chunk 1 .*HYPR"):
        decode_rdl(bytes(data))


def test_chunk_tag_is_protected_by_the_crc() -> None:
    data = bytearray(SAMPLE)
    data[LAYOUT.chunk_offsets[0] - 16] ^= 0x01  # "LATN" -> "MATN"
    with pytest.raises(CorruptChunkError):
        decode_rdl(bytes(data))


def test_non_printable_tag_is_refused_even_with_a_valid_crc() -> None:
    data = build(chunks=struct.pack("<I", 1) + chunk_record(b"LA\x00N", b"x"))
    with pytest.raises(CorruptHeaderError, match="tag"):
        decode_rdl(data)


@pytest.mark.parametrize("value", [len(SAMPLE), 2**32 - 1, 2**63, 2**64 - 1])
def test_chunk_length_beyond_the_file(value: int) -> None:
    offset = LAYOUT.chunk_offsets[0] - 12
    with pytest.raises(LengthError, match="chunk 0"):
        decode_rdl(put(SAMPLE, offset, "<Q", value))


@pytest.mark.parametrize("value", [len(SAMPLE), MAX_HEADER_LENGTH + 1, 2**32 - 1])
def test_header_length_beyond_the_file(value: int) -> None:
    with pytest.raises(LengthError, match="header length"):
        decode_rdl(put(SAMPLE, 12, "<I", value))


def test_header_length_over_the_limit_even_if_data_is_there() -> None:
    data = put(SAMPLE, 12, "<I", MAX_HEADER_LENGTH + 1) + bytes(MAX_HEADER_LENGTH + 16)
    with pytest.raises(LengthError, match="limit"):
        decode_rdl(data)


def test_chunk_count() -> None:
    offset = LAYOUT.header_size - 4
    with pytest.raises(LengthError, match="chunk count"):
        decode_rdl(put(SAMPLE, offset, "<I", 2**32 - 1))
    with pytest.raises(TruncatedError):
        decode_rdl(put(SAMPLE, offset, "<I", 4))  # plausible count, data ends
    with pytest.raises(TrailingDataError):
        decode_rdl(put(SAMPLE, offset, "<I", 2))


@pytest.mark.parametrize("tail", [b"\x00", b"garbage", SAMPLE])
def test_trailing_bytes(tail: bytes) -> None:
    with pytest.raises(TrailingDataError):
        decode_rdl(SAMPLE + tail)


def test_header_crc() -> None:
    data = bytearray(SAMPLE)
    data[30] ^= 0x04  # inside the header block
    with pytest.raises(CorruptHeaderError, match="CRC"):
        decode_rdl(bytes(data))
    with pytest.raises(CorruptHeaderError, match="CRC"):
        decode_rdl(put(SAMPLE, 10, "<H", 1))  # the minor version is covered too


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        (b"{", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": -Infinity}', "Infinity"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # byte-order mark
        (b"[" * 200_000, "nested too deeply|not valid JSON"),
        (b'{"a": 1e400}', "finite"),
    ],
)
def test_bad_metadata(metadata: bytes, match: str) -> None:
    with pytest.raises(CorruptHeaderError, match=match):
        decode_rdl(build(metadata=metadata))


@pytest.mark.parametrize(
    "data",
    [
        build(codec=b""),
        build(version=b""),
        build(codec=b"\xc3"),
        build(codec=b"a\x07"),
        build(hash_=b"\x00" * 5),
        build(hash_=b"\x00" * 33),
        reseal(put(build(), 16 + 1 + 3 + 1 + 1 + 1, "<I", 3)),  # metadata length > block
        reseal(put(build(), 16, "<B", 200)),  # codec length > block
    ],
    ids=["empty-codec", "empty-version", "utf8", "control", "hash5", "hash33", "meta", "codec"],
)
def test_bad_header_fields(data: bytes) -> None:
    with pytest.raises(CorruptHeaderError):
        decode_rdl(data)


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(InputError, match="data"):
        decode_rdl(SAMPLE.decode("latin-1"))  # type: ignore[arg-type]


# ------------------------------------------------------------------------ fuzzing


def test_every_truncation_raises_quickly() -> None:
    start = time.perf_counter()
    for end in range(len(SAMPLE)):
        with pytest.raises(FormatError):
            decode_rdl(SAMPLE[:end])
    assert time.perf_counter() - start < 2.0


def test_every_single_bit_flip_is_detected() -> None:
    # The CRCs cover every byte but the magic, the major version, the lengths and the
    # CRCs themselves, and damage to those breaks the structure: no flip goes unnoticed.
    start = time.perf_counter()
    for bit in range(len(SAMPLE) * 8):
        data = bytearray(SAMPLE)
        data[bit // 8] ^= 1 << (bit % 8)
        assert decode_or_format_error(bytes(data)) is None, f"bit {bit} went unnoticed"
    assert time.perf_counter() - start < 5.0


def _length_fields() -> list[tuple[str, int, str]]:
    """(name, offset, struct format) of every length field of SAMPLE."""
    fields = [("header_length", 12, "<I"), ("chunk_count", LAYOUT.header_size - 4, "<I")]
    position = 16
    for name in ("codec", "codec_version"):
        fields.append((name, position, "<B"))
        position += 1 + SAMPLE[position]
    fields.append(("model_hash", position, "<B"))
    position += 1 + SAMPLE[position]
    fields.append(("metadata", position, "<I"))
    for index, offset in enumerate(LAYOUT.chunk_offsets):
        fields.append((f"chunk{index}", offset - 12, "<Q"))
    return fields


@pytest.mark.parametrize(("name", "offset", "fmt"), _length_fields())
@pytest.mark.parametrize("resealed", [False, True])
def test_forged_lengths(name: str, offset: int, fmt: str, resealed: bool) -> None:
    bits = struct.calcsize(fmt) * 8
    values = {2 ** (bits - 1), 2**bits - 1, 2**bits - 2, len(SAMPLE) % 2**bits}
    values |= {2**31, 2**32 - 1, 2**63, 2**64 - 1} if bits == 64 else set()
    (original,) = struct.unpack_from(fmt, SAMPLE, offset)
    values |= {(original + 1) % 2**bits, (original - 1) % 2**bits}
    for value in sorted(values):
        data = put(SAMPLE, offset, fmt, value)
        if resealed:
            data = reseal(data)
        with pytest.raises(FormatError):
            decode_rdl(data)


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
@given(st.binary(max_size=512))
def test_random_bytes(blob: bytes) -> None:
    decode_or_format_error(blob)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_after_a_valid_prefix(blob: bytes) -> None:
    decode_or_format_error(MAGIC + struct.pack("<HH", 1, 0) + blob)


@FUZZ
@given(st.binary(max_size=64), st.integers(0, 3))
def test_random_chunk_section(blob: bytes, count: int) -> None:
    decode_or_format_error(build(chunks=struct.pack("<I", count) + blob))


# ------------------------------------------------------------------------ files


def test_write_and_read(tmp_path: Path) -> None:
    path = tmp_path / "out.rdl"
    assert write_rdl(path, sample()) == len(SAMPLE)
    assert path.read_bytes() == SAMPLE
    assert read_rdl(path) == sample()
    assert read_rdl(str(path), codecs={"toy-hyperprior": ["1.2"]}, expected_model_hash=HASH_A)
    assert os.listdir(tmp_path) == ["out.rdl"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_rdl(tmp_path / "out.rdl", sample())
    finally:
        os.umask(umask)
    assert (tmp_path / "out.rdl").stat().st_mode & 0o777 == 0o644


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "out.rdl"
    path.write_bytes(b"old")
    with pytest.raises(InputError, match="exists") as info:
        write_rdl(path, sample())
    assert info.value.argument == "output"
    assert path.read_bytes() == b"old"
    write_rdl(path, sample(), overwrite=True)
    assert path.read_bytes() == SAMPLE
    assert os.listdir(tmp_path) == ["out.rdl"]


def test_does_not_clobber_a_file_that_appears_after_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.rdl"
    path.write_bytes(b"someone else's")
    monkeypatch.setattr(os.path, "lexists", lambda _: False)  # the check sees nothing
    with pytest.raises(InputError, match="exists"):
        write_rdl(path, sample())
    assert path.read_bytes() == b"someone else's"
    assert os.listdir(tmp_path) == ["out.rdl"]


def test_never_overwrites_a_protected_input(tmp_path: Path) -> None:
    source = tmp_path / "in.rdl"
    source.write_bytes(b"input")
    link = tmp_path / "link.rdl"
    link.symlink_to(source)
    hard = tmp_path / "hard.rdl"
    os.link(source, hard)
    spelled = tmp_path / "sub" / ".." / "in.rdl"
    (tmp_path / "sub").mkdir()
    for target in (source, link, hard, spelled):
        with pytest.raises(InputError, match="input") as info:
            write_rdl(target, sample(), overwrite=True, protect=[source])
        assert info.value.argument == "output"
    with pytest.raises(InputError):
        write_rdl(source, sample(), overwrite=True, protect=[str(link)])
    assert source.read_bytes() == b"input"
    write_rdl(tmp_path / "other.rdl", sample(), protect=[source, link])
    assert sorted(os.listdir(tmp_path)) == ["hard.rdl", "in.rdl", "link.rdl", "other.rdl", "sub"]


def test_refusals_leave_nothing_behind(tmp_path: Path) -> None:
    bad = dataclasses.replace(sample(), metadata={"x": object()})
    with pytest.raises(InputError, match="metadata"):
        write_rdl(tmp_path / "out.rdl", bad)
    with pytest.raises(InputError, match="does not exist"):
        write_rdl(tmp_path / "missing" / "out.rdl", sample())
    (tmp_path / "dir.rdl").mkdir()
    with pytest.raises(InputError, match="directory"):
        write_rdl(tmp_path / "dir.rdl", sample(), overwrite=True)
    assert os.listdir(tmp_path) == ["dir.rdl"]


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(28, "No space left on device")


def test_failure_midway_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.rdl"
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(InputError, match="cannot be written: No space"):
        write_rdl(path, sample())
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.rdl"
    path.write_bytes(b"previous")
    monkeypatch.setattr(os, "replace", _no_space)
    with pytest.raises(InputError, match="cannot be written: No space"):
        write_rdl(path, sample(), overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.rdl"]


def test_without_hard_links_a_new_file_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "link", _no_space)  # e.g. a file system without hard links
    assert write_rdl(tmp_path / "out.rdl", sample()) == len(SAMPLE)
    assert (tmp_path / "out.rdl").read_bytes() == SAMPLE
    assert os.listdir(tmp_path) == ["out.rdl"]


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as info:
        read_rdl(tmp_path / "missing.rdl")
    assert info.value.argument == "input"
    with pytest.raises(InputError, match="directory"):
        read_rdl(tmp_path)
    path = tmp_path / "bad.rdl"
    path.write_bytes(SAMPLE[:-1])
    with pytest.raises(TruncatedError, match=r"bad.rdl"):
        read_rdl(path)
    path.write_bytes(SAMPLE)
    with pytest.raises(WeightsMismatchError, match=r"bad.rdl"):
        read_rdl(path, expected_model_hash=HASH_B)


# ------------------------------------------------------------------------ model hash

WEIGHTS = {
    "enc.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
    "enc.bias": np.array([1, -2, 3], dtype=np.int16),
    "scale": np.float64(0.5),
}


def test_model_hash_test_vector() -> None:
    # Committed value: a change of the canonical serialisation must be deliberate.
    expected = "c2580bc86e456fbd956f14c579695133ff5d0ccab015cd38eab5754801365ab8"
    assert model_hash({"w": np.arange(4, dtype="<f4")}).hex() == expected


def test_model_hash_serialisation_is_the_documented_one() -> None:
    values = np.arange(4, dtype="<f4")
    blob = (
        b"rdlab.model_hash.v1\x00"
        + struct.pack("<Q", 1)
        + struct.pack("<I", 1)
        + b"w"
        + struct.pack("<I", 3)
        + b"<f4"
        + struct.pack("<IQ", 1, 4)
        + struct.pack("<Q", 16)
        + values.tobytes()
    )
    assert model_hash({"w": values}) == hashlib.sha256(blob).digest()


def test_model_hash_ignores_key_order_layout_and_byte_order() -> None:
    reference = model_hash(WEIGHTS)
    assert len(reference) == 32
    assert model_hash(dict(reversed(list(WEIGHTS.items())))) == reference
    fortran = dict(WEIGHTS, **{"enc.weight": np.asfortranarray(WEIGHTS["enc.weight"])})
    assert model_hash(fortran) == reference
    big = dict(WEIGHTS, **{"enc.weight": WEIGHTS["enc.weight"].astype(">f4")})
    assert model_hash(big) == reference
    strided = np.arange(24, dtype=np.float32).reshape(3, 8)[:, ::2]
    assert model_hash({"s": strided}) == model_hash({"s": strided.copy()})


@pytest.mark.parametrize(
    "change",
    [
        {"enc.bias": np.array([1, -2, 4], dtype=np.int16)},  # one element
        {"enc.bias": np.array([1, -2, 3], dtype=np.int32)},  # dtype
        {"enc.weight": np.arange(12, dtype=np.float32).reshape(4, 3)},  # shape
        {"enc.weight": np.arange(12, dtype=np.float32)},  # ndim
        {"extra": np.zeros(0, dtype=np.float32)},  # an added empty tensor
    ],
)
def test_model_hash_sees_every_change(change: dict) -> None:
    assert model_hash(dict(WEIGHTS, **change)) != model_hash(WEIGHTS)


def test_model_hash_sees_renames_and_removals() -> None:
    renamed = {("enc.w" if k == "enc.weight" else k): v for k, v in WEIGHTS.items()}
    assert model_hash(renamed) != model_hash(WEIGHTS)
    assert model_hash({k: v for k, v in WEIGHTS.items() if k != "scale"}) != model_hash(WEIGHTS)
    # Names and values cannot trade bytes across the boundary between fields.
    one = {"ab": np.array([1], dtype=np.uint8), "c": np.array([2], dtype=np.uint8)}
    two = {"a": np.array([1], dtype=np.uint8), "bc": np.array([2], dtype=np.uint8)}
    assert model_hash(one) != model_hash(two)


def test_model_hash_of_bytes_is_sha256() -> None:
    assert model_hash(b"weights A") == HASH_A
    assert model_hash(bytearray(b"weights A")) == HASH_A
    assert model_hash(b"") != model_hash({})


def test_model_hash_of_torch_tensors_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    layer = torch.nn.Linear(4, 3)
    state = layer.state_dict()
    as_numpy = {name: tensor.detach().numpy().copy() for name, tensor in state.items()}
    assert model_hash(state) == model_hash(as_numpy)
    params = dict(layer.named_parameters())  # requires_grad tensors
    assert model_hash(params) == model_hash(as_numpy)
    with pytest.raises(InputError, match=r"bfloat16|NumPy"):
        model_hash({"w": torch.zeros(2, dtype=torch.bfloat16)})


def test_model_hash_does_not_import_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from rdlab.container import model_hash\n"
        "before = 'torch' in sys.modules\n"
        "model_hash({'w': np.zeros(3)})\n"
        "print(before, 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    before, after = result.stdout.split()
    assert after == before  # model_hash itself never imports torch


@pytest.mark.parametrize(
    "weights",
    [
        {"w": np.array(["a", "b"])},
        {"w": np.array([object()])},
        {"w": [[1, 2], [3]]},
        {1: np.zeros(2)},
        [np.zeros(2)],
        "weights",
    ],
    ids=["strings", "objects", "ragged", "int-key", "list", "str"],
)
def test_model_hash_refuses_non_numeric(weights: object) -> None:
    with pytest.raises(InputError) as info:
        model_hash(weights)  # type: ignore[arg-type]
    assert info.value.argument == "weights"
