"""The ``.rdl`` file container: a small, checked, self-describing wrapper around codec output.

An ``.rdl`` file holds the name and version of the codec that wrote it, an optional
SHA-256 of the model weights it was written with, a JSON metadata object, and a list of
tagged binary chunks (latents, hyper-latents, side information, ...). The container knows
nothing about what the chunks mean; codecs do. Two layouts hold the same content: the
long one below, and a compact one (about 50 bytes less, the model hash cut to 8 bytes)
for codecs whose files are a few kilobytes; readers take both.

Binary layout
=============

All integers are unsigned and little-endian. Offsets are in bytes from the start of the
file; ``H`` is ``header_length``.

==========  ================  ======  ===================================================
offset      field             type    meaning
==========  ================  ======  ===================================================
0           magic             8 B     ``b"\\x89RDL\\r\\n\\x1a\\n"``. As in PNG, the high byte,
                                      the CR LF pair and the Ctrl-Z make a file that went
                                      through a text-mode transfer fail here.
8           format_major      u16     1. A reader refuses any other major version.
10          format_minor      u16     0. A reader of major 1 accepts every minor version:
                                      minor versions only append optional fields to the
                                      end of the header block (see below).
12          header_length     u32     ``H``, length of the header block in bytes.
                                      At most 16 MiB and at most the bytes that follow.
16          header block      H B     the fields below, back to back:

                                      - codec_name: u8 length n (1..255), n bytes UTF-8
                                        (printable: no control characters)
                                      - codec_version: u8 length n (1..255), n bytes UTF-8
                                        (printable)
                                      - model_hash: u8 length n (0 or 32), n raw bytes:
                                        0 = the codec uses no model, 32 = SHA-256 of the
                                        weights (see :func:`model_hash`)
                                      - metadata: u32 length n, n bytes UTF-8 JSON text
                                        that decodes to a JSON object

                                      In minor version 0 these fields fill the block
                                      exactly. In a later minor version the block may
                                      continue with optional fields this reader skips.
16+H        header_crc32      u32     ``zlib.crc32(data[8 : 16+H])``: format_major up to
                                      the end of the header block.
20+H        chunk_count       u32     number of chunks; each takes at least 16 bytes, so
                                      it is at most (bytes that follow) // 16.
24+H        chunks            ...     ``chunk_count`` records, back to back, each:

                                      - tag: 4 B, printable ASCII (0x20..0x7E), e.g.
                                        ``b"LATN"``, ``b"HYPR"``
                                      - length: u64, payload length in bytes
                                      - crc32: u32, ``zlib.crc32(tag + payload)``
                                      - payload: ``length`` bytes
end         (nothing)                 bytes after the last chunk are an error.
==========  ================  ======  ===================================================

The header size reported by :func:`describe` is ``24 + H``: everything before the first
chunk record. A chunk's reported offset is the offset of its payload (its record starts
16 bytes earlier).

Compact layout
==============

For codecs whose files are small enough that the header is a real part of the rate (an
INR image at 0.2 bpp is about 1.6 kB, and the layout above takes 85 bytes plus the
metadata), :func:`encode_rdl` with ``compact=True`` writes the same content in fewer
bytes. Varints are unsigned LEB128 (7 bits per byte, low group first, minimal: no
trailing zero group), at most 9 bytes.

==========  ================  ======  ===================================================
offset      field             type    meaning
==========  ================  ======  ===================================================
0           magic             5 B     ``b"\\x89RDL\\x02"``: the long magic's first four
                                      bytes, then the compact format's major version (2)
5           codec_name        u8 + n  as in the long layout
.           codec_version     u8 + n  as in the long layout
.           model_hash        u8 + n  n = 0 (no model) or 8: the first 8 bytes of the
                                      SHA-256 (64 bits; :func:`hash_matches`)
.           metadata          varint  n, then n bytes of canonical JSON (as above)
                                      + n
.           chunk_count       varint
.           chunks            ...     per chunk: tag 4 B, varint payload length, payload
end - 4     crc32             u32     ``zlib.crc32(data[: end - 4])``: one CRC over the
                                      whole file
==========  ================  ======  ===================================================

An INR file with one chunk and 19 bytes of metadata thus has 51 bytes of header and
framing instead of 102. :func:`describe` reports ``format_version`` ``"2.0"`` and as
``header_size`` everything before the first chunk's tag.

The metadata is written canonically (``json.dumps(metadata, sort_keys=True,
separators=(",", ":"), allow_nan=False)``, ASCII-only), so encoding the same
:class:`RdlFile` always gives the same bytes.

Reading
=======

:func:`decode_rdl` checks, in this order, and raises the
:class:`~rdlab.errors.FormatError` subclass named:

1. magic: data shorter than the magic but a prefix of it -> ``TruncatedError``;
   otherwise a mismatch -> ``BadMagicError``;
2. format_major -> ``UnsupportedVersionError``;
3. header_length against 16 MiB and against the bytes that follow -> ``LengthError``
   (lengths are always checked before anything is sliced or allocated);
4. header CRC -> ``CorruptHeaderError``;
5. header fields (lengths inside the block, UTF-8, hash length) -> ``CorruptHeaderError``;
6. metadata: invalid UTF-8, invalid JSON, NaN/Infinity or numbers that overflow to
   infinity, duplicate keys, or not an object -> ``CorruptHeaderError``;
7. codec name and version against the accepted ones -> ``UnknownCodecError``; model
   hash against the expected one -> ``WeightsMismatchError``;
8. chunk_count against the bytes left -> ``LengthError``; then per chunk: the data ends
   inside the 16-byte chunk head -> ``TruncatedError``; payload length beyond the end ->
   ``LengthError``; CRC mismatch -> ``CorruptChunkError``; tag not printable ASCII ->
   ``CorruptHeaderError``;
9. bytes after the last chunk -> ``TrailingDataError``.

A compact file is read in the same spirit: magic and version; then its lengths (each
checked against the bytes left before the CRC: ``LengthError``, or ``TruncatedError``
inside a fixed-size field or varint); bytes between the last chunk and the CRC ->
``TrailingDataError``; the file CRC -> ``CorruptChunkError`` (it covers header and
chunks alike); then the fields' content, the codec and the model hash as above.

A fixed-size field that the data ends inside raises ``TruncatedError``. The reader
loops at most ``chunk_count`` times and touches each byte a bounded number of times, so
it runs in time linear in the size of the data whatever the data is.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._files import read_bytes, write_atomic
from ._varint import decode_varint, encode_varint
from .errors import (
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

__all__ = [
    "COMPACT_HASH_SIZE",
    "COMPACT_MAGIC",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "HASH_SIZE",
    "MAGIC",
    "MAX_HEADER_LENGTH",
    "Chunk",
    "Layout",
    "RdlFile",
    "decode_rdl",
    "describe",
    "encode_rdl",
    "hash_matches",
    "model_hash",
    "read_rdl",
    "write_rdl",
]

MAGIC: bytes = b"\x89RDL\r\n\x1a\n"
"""The 8 bytes every ``.rdl`` file starts with."""

FORMAT_MAJOR = 1
"""Format major version written and the only one read."""

FORMAT_MINOR = 0
"""Format minor version written. Any minor version of major 1 is read."""

MAX_HEADER_LENGTH = 16 * 1024 * 1024
"""Largest header block (bytes) a reader accepts and a writer produces."""

HASH_SIZE = 32
"""Length of a model hash in bytes (SHA-256)."""

COMPACT_MAGIC: bytes = MAGIC[:4] + b"\x02"
"""The 5 bytes every compact ``.rdl`` file starts with (the last is its major version)."""

COMPACT_HASH_SIZE = 8
"""Bytes of the model hash a compact file keeps (the SHA-256's first 8)."""


_MAX_NAME_BYTES = 255

_PREFIX = struct.Struct("<8sHHI")  # magic, format_major, format_minor, header_length
_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_CHUNK_HEAD = struct.Struct("<4sQI")  # tag, payload length, crc32
_VERSION_OFFSET = 8  # the header CRC covers data[_VERSION_OFFSET : 16 + header_length]
_U32_MAX = 2**32 - 1


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Chunk:
    """One tagged chunk of an ``.rdl`` file.

    ``tag`` is 4 printable ASCII characters naming the payload (``"LATN"``, ``"HYPR"``,
    ...); ``payload`` is the chunk's bytes, opaque to the container.
    """

    tag: str
    payload: bytes


@dataclass(frozen=True)
class Layout:
    """Where the parts of an ``.rdl`` file lie in its bytes (all values in bytes).

    ``chunk_offsets[i]`` is the offset of chunk ``i``'s payload; ``header_size`` is the
    size of everything before the first chunk record (``24 + header_length``; compact:
    ``5 + header_length``). ``format_major`` is 1 (long layout) or 2 (compact).
    """

    format_major: int
    format_minor: int
    header_length: int
    header_size: int
    chunk_offsets: tuple[int, ...]
    total_size: int


@dataclass(frozen=True)
class RdlFile:
    """The decoded content of an ``.rdl`` file.

    ``model_hash`` is ``b""`` (no model) or the 32-byte SHA-256 of the model weights
    (read from a compact file: its first 8 bytes; compare with :func:`hash_matches`);
    ``metadata`` is a JSON object (``dict`` with ``str`` keys); ``chunks`` keep their
    order. ``layout`` is set by :func:`decode_rdl` to where the parts lay in the decoded
    bytes; it is ``None`` for a file built in memory, takes no part in equality and is
    not carried over by :func:`dataclasses.replace`.
    """

    codec: str
    codec_version: str
    model_hash: bytes
    metadata: dict[str, Any]
    chunks: tuple[Chunk, ...] = ()
    layout: Layout | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.chunks, tuple):
            object.__setattr__(self, "chunks", tuple(self.chunks))

    def chunk(self, tag: str) -> bytes:
        """Payload of the first chunk tagged ``tag``.

        A decoder asking for a chunk the file lacks means the file is incomplete, so a
        missing tag raises :class:`~rdlab.errors.CorruptHeaderError`, naming the tags
        the file has.
        """
        for item in self.chunks:
            if item.tag == tag:
                return item.payload
        present = ", ".join(item.tag for item in self.chunks) or "none"
        raise CorruptHeaderError(
            f"missing chunk {tag!r}: codec {self.codec!r} needs it; the file has: {present}"
        )

    def to_bytes(self, *, compact: bool = False) -> bytes:
        """The canonical encoding of this file (see :func:`encode_rdl`)."""
        return encode_rdl(self, compact=compact)


# --------------------------------------------------------------------------- model hash

_WEIGHTS_DOMAIN = b"rdlab.model_hash.v1\x00"


def _weight_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a little-endian, C-contiguous numeric NumPy array."""
    try:
        if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
            tensor = value.detach().cpu()
            for resolve in ("resolve_conj", "resolve_neg"):
                if hasattr(tensor, resolve):
                    tensor = getattr(tensor, resolve)()
            value = tensor.numpy()
        array = np.asarray(value)
    except Exception as exc:  # bfloat16 tensors, ragged lists, ...
        raise InputError("weights", f"{name!r} cannot be read as a NumPy array ({exc})") from None
    if array.dtype.kind not in "biufc":
        raise InputError("weights", f"{name!r} has dtype {array.dtype}, which is not numeric")
    little = array.dtype.newbyteorder("<")
    return np.ascontiguousarray(array, dtype=little)


def model_hash(weights: bytes | bytearray | memoryview | Mapping[str, Any]) -> bytes:
    """SHA-256 (32 bytes) identifying model weights.

    ``weights`` is either bytes (e.g. a weights file's content, hashed as is) or a
    mapping from parameter name to a NumPy array, torch tensor or array-like (e.g. a
    ``state_dict``). A mapping is hashed through a canonical serialisation, so the
    order of its keys, the tensors' device and the arrays' memory layout and byte order
    do not matter, while any change of a name, dtype, shape or value does::

        b"rdlab.model_hash.v1\\0"
        u64 number of entries
        per entry, by name (sorted by UTF-8 bytes):
            u32 length + name in UTF-8
            u32 length + numpy ``dtype.str`` in ASCII, little-endian form ("<f4", "|u1")
            u32 ndim, then u64 per dimension
            u64 length + the values' bytes, little-endian, C order

    Integers are little-endian. Torch is never imported here: tensors are recognised by
    their ``detach``/``cpu`` methods. Tensors NumPy cannot hold (bfloat16) are refused.
    """
    if isinstance(weights, (bytes, bytearray, memoryview)):
        return hashlib.sha256(weights).digest()
    if not isinstance(weights, Mapping):
        raise InputError(
            "weights", f"must be bytes or a mapping of name -> array, got {type(weights).__name__}"
        )
    entries = []
    for name, value in weights.items():
        if not isinstance(name, str):
            raise InputError("weights", f"names must be str, got {type(name).__name__} {name!r}")
        try:
            raw_name = name.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("weights", f"name {name!r} is not valid Unicode") from None
        entries.append((raw_name, name, value))
    entries.sort(key=lambda entry: entry[0])

    digest = hashlib.sha256(_WEIGHTS_DOMAIN)
    digest.update(_U64.pack(len(entries)))
    for raw_name, name, value in entries:
        array = _weight_array(name, value)
        dtype = array.dtype.str.encode("ascii")
        digest.update(_U32.pack(len(raw_name)) + raw_name)
        digest.update(_U32.pack(len(dtype)) + dtype)
        digest.update(_U32.pack(array.ndim) + b"".join(_U64.pack(n) for n in array.shape))
        digest.update(_U64.pack(array.nbytes))
        digest.update(array.reshape(-1).view(np.uint8))
    return digest.digest()


# --------------------------------------------------------------------------- encoding


def _check_name(value: Any, argument: str) -> bytes:
    """A codec name or version as UTF-8: a printable str of 1..255 bytes."""
    if not isinstance(value, str):
        raise InputError(argument, f"must be a str, got {type(value).__name__}")
    if not value:
        raise InputError(argument, "must not be empty")
    if not value.isprintable():
        raise InputError(argument, f"{value!r} holds non-printable characters")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(argument, f"{value!r} is not valid Unicode") from None
    if len(raw) > _MAX_NAME_BYTES:
        raise InputError(argument, f"is {len(raw)} bytes in UTF-8; at most 255 allowed")
    return raw


def _is_tag(raw: bytes) -> bool:
    """Whether ``raw`` is a valid chunk tag: 4 bytes of printable ASCII."""
    return len(raw) == 4 and all(0x20 <= byte <= 0x7E for byte in raw)


def _check_json(value: Any, where: str) -> None:
    """Refuse anything in ``value`` that would not come back unchanged from JSON.

    Allowed: ``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list``/``tuple``
    (tuples come back as lists) and ``dict`` with ``str`` keys.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError("metadata", f"{where} is {value}, which JSON cannot hold")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(
                    "metadata",
                    f"{where} has key {key!r} of type {type(key).__name__}; JSON keys must be str",
                )
            _check_json(item, f"{where}[{key!r}]")
        return
    raise InputError("metadata", f"{where} is a {type(value).__name__}, which is not a JSON type")


def _metadata_bytes(metadata: Any) -> bytes:
    """The canonical JSON encoding of ``metadata`` (a dict with str keys)."""
    if not isinstance(metadata, dict):
        raise InputError("metadata", f"must be a dict, got {type(metadata).__name__}")
    try:
        _check_json(metadata, "metadata")
        text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise InputError("metadata", "is nested too deeply") from None
    except (TypeError, ValueError) as exc:  # e.g. ints too long for str()
        raise InputError("metadata", f"cannot be written as JSON ({exc})") from None
    return text.encode("ascii")


def _check_chunks(chunks: Any) -> list[tuple[bytes, bytes]]:
    """The chunks as (tag bytes, payload bytes), refusing bad tags and payloads."""
    checked = []
    for index, item in enumerate(chunks):
        if not isinstance(item, Chunk):
            raise InputError(f"chunks[{index}]", f"must be a Chunk, got {type(item).__name__}")
        tag = item.tag
        if not (isinstance(tag, str) and len(tag) == 4 and all(" " <= c <= "~" for c in tag)):
            raise InputError(f"chunks[{index}].tag", f"{tag!r} is not 4 printable ASCII characters")
        if not isinstance(item.payload, (bytes, bytearray, memoryview)):
            raise InputError(
                f"chunks[{index}].payload", f"must be bytes, got {type(item.payload).__name__}"
            )
        checked.append((tag.encode("ascii"), bytes(item.payload)))
    if len(checked) > _U32_MAX:
        raise InputError("chunks", f"{len(checked)} chunks; at most {_U32_MAX} allowed")
    return checked


def _chunk_crc(raw_tag: bytes, payload: bytes) -> int:
    """CRC-32 of a chunk: over its tag and then its payload."""
    return zlib.crc32(payload, zlib.crc32(raw_tag))


def _checked_fields(
    file: RdlFile, hash_sizes: tuple[int, ...]
) -> tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]]:
    """``file``'s codec name, version, metadata JSON and chunks as bytes, every field
    checked (the model hash must have one of ``hash_sizes`` bytes)."""
    if not isinstance(file, RdlFile):
        raise InputError("file", f"must be an RdlFile, got {type(file).__name__}")
    codec = _check_name(file.codec, "codec")
    version = _check_name(file.codec_version, "codec_version")
    if not isinstance(file.model_hash, (bytes, bytearray)):
        raise InputError("model_hash", f"must be bytes, got {type(file.model_hash).__name__}")
    if len(file.model_hash) not in hash_sizes:
        sizes = " or ".join(str(n) for n in hash_sizes if n)
        raise InputError(
            "model_hash", f"must be empty or {sizes} bytes, got {len(file.model_hash)}"
        )
    return codec, version, _metadata_bytes(file.metadata), _check_chunks(file.chunks)


def _encode(file: RdlFile) -> tuple[bytes, Layout]:
    """Encode ``file``; return the bytes and where their parts lie."""
    codec, version, metadata, chunks = _checked_fields(file, (0, HASH_SIZE))

    block = b"".join(
        (
            _U8.pack(len(codec)), codec,
            _U8.pack(len(version)), version,
            _U8.pack(len(file.model_hash)), bytes(file.model_hash),
            _U32.pack(len(metadata)), metadata,
        )
    )  # fmt: skip
    if len(block) > MAX_HEADER_LENGTH:
        raise InputError(
            "metadata", f"makes the header {len(block)} bytes; at most {MAX_HEADER_LENGTH}"
        )
    prefix = _PREFIX.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, len(block))
    header_crc = zlib.crc32(block, zlib.crc32(prefix[_VERSION_OFFSET:]))
    parts = [prefix, block, _U32.pack(header_crc), _U32.pack(len(chunks))]
    header_size = _PREFIX.size + len(block) + 8
    offsets = []
    position = header_size
    for raw_tag, payload in chunks:
        parts.append(_CHUNK_HEAD.pack(raw_tag, len(payload), _chunk_crc(raw_tag, payload)))
        parts.append(payload)
        position += _CHUNK_HEAD.size
        offsets.append(position)
        position += len(payload)
    data = b"".join(parts)
    layout = Layout(
        format_major=FORMAT_MAJOR,
        format_minor=FORMAT_MINOR,
        header_length=len(block),
        header_size=header_size,
        chunk_offsets=tuple(offsets),
        total_size=len(data),
    )
    return data, layout


def _encode_compact(file: RdlFile) -> tuple[bytes, Layout]:
    """Encode ``file`` in the compact layout; return the bytes and where their parts lie."""
    sizes = (0, COMPACT_HASH_SIZE, HASH_SIZE)
    codec, version, metadata, chunks = _checked_fields(file, sizes)
    short_hash = bytes(file.model_hash[:COMPACT_HASH_SIZE])
    if len(metadata) > MAX_HEADER_LENGTH:
        raise InputError(
            "metadata", f"is {len(metadata)} bytes as JSON; at most {MAX_HEADER_LENGTH}"
        )
    parts = [
        COMPACT_MAGIC,
        _U8.pack(len(codec)), codec,
        _U8.pack(len(version)), version,
        _U8.pack(len(short_hash)), short_hash,
        encode_varint(len(metadata)), metadata,
        encode_varint(len(chunks)),
    ]  # fmt: skip
    header_size = sum(len(part) for part in parts)
    position = header_size
    offsets = []
    for raw_tag, payload in chunks:
        head = raw_tag + encode_varint(len(payload))
        parts += [head, payload]
        offsets.append(position + len(head))
        position += len(head) + len(payload)
    body = b"".join(parts)
    data = body + _U32.pack(zlib.crc32(body))
    layout = Layout(
        format_major=COMPACT_MAGIC[4],
        format_minor=0,
        header_length=header_size - len(COMPACT_MAGIC),
        header_size=header_size,
        chunk_offsets=tuple(offsets),
        total_size=len(data),
    )
    return data, layout


def encode_rdl(file: RdlFile, *, compact: bool = False) -> bytes:
    """Encode ``file`` as the bytes of an ``.rdl`` file (canonical: same file, same bytes).

    ``compact`` selects the compact layout (see the module doc): the same content in
    about 50 fewer bytes, with the model hash cut to its first 8 bytes.

    Raises :class:`~rdlab.errors.InputError`, naming the field, when the codec name or
    version is empty, longer than 255 UTF-8 bytes or not printable, the model hash is
    neither empty nor 32 bytes (compact: also 8), the metadata is not a JSON object
    (``dict`` with ``str`` keys, finite numbers) or makes the header larger than 16 MiB,
    or a chunk tag is not 4 printable ASCII characters.
    """
    return (_encode_compact(file) if compact else _encode(file))[0]


def hash_matches(file_hash: bytes, model_hash: bytes) -> bool:
    """Whether a file's model hash names the model whose full hash is ``model_hash``.

    ``file_hash`` is what :func:`decode_rdl` returned: the whole 32-byte SHA-256 (long
    layout), its first 8 bytes (compact layout) or ``b""`` (no model, which matches only
    ``b""``).
    """
    if len(file_hash) == len(model_hash):
        return bytes(file_hash) == bytes(model_hash)
    return len(file_hash) == COMPACT_HASH_SIZE and bytes(model_hash).startswith(bytes(file_hash))


# --------------------------------------------------------------------------- decoding


class _Cursor:
    """Reads fields from ``data[pos:end]``; running out raises ``error``."""

    __slots__ = ("data", "end", "error", "pos")

    def __init__(self, data: bytes, pos: int, end: int, error: type[FormatError]) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.error = error

    def remaining(self) -> int:
        """Bytes left before ``end``."""
        return self.end - self.pos

    def need(self, size: int, what: str) -> None:
        """Raise ``error`` unless ``size`` bytes are left."""
        if size > self.end - self.pos:
            raise self.error(
                f"{what} at byte {self.pos} needs {size} bytes, "
                f"but only {self.end - self.pos} remain"
            )

    def take(self, size: int, what: str) -> bytes:
        """The next ``size`` bytes (checked before slicing)."""
        self.need(size, what)
        start = self.pos
        self.pos += size
        return self.data[start : self.pos]

    def unpack(self, layout: struct.Struct, what: str) -> tuple[Any, ...]:
        """The next fixed-size record."""
        self.need(layout.size, what)
        values = layout.unpack_from(self.data, self.pos)
        self.pos += layout.size
        return values


def _check_magic(data: bytes) -> bool:
    """Raise unless ``data`` starts with :data:`MAGIC` or :data:`COMPACT_MAGIC`.

    Returns whether the file is compact.
    """
    head = data[: len(MAGIC)]
    if head == MAGIC:
        return False
    if data[: len(COMPACT_MAGIC)] == COMPACT_MAGIC:
        return True
    if len(data) < len(MAGIC) and (MAGIC.startswith(head) or COMPACT_MAGIC.startswith(head)):
        raise TruncatedError(
            f"data is {len(data)} bytes, shorter than the {len(MAGIC)}-byte .rdl magic"
        )
    if head[:4] == MAGIC[:4] and 2 < head[4] < 0x0A:
        raise UnsupportedVersionError(
            f"compact format version {head[4]} is not supported; this reader understands 2"
        )
    hint = ""
    if head[:4] == MAGIC[:4]:
        hint = " (it starts like one: was it sent through a text-mode transfer?)"
    raise BadMagicError(f"not an .rdl file: starts with {head!r}, expected {MAGIC!r}{hint}")


def _read_varint(cursor: _Cursor, what: str) -> int:
    """A minimal unsigned LEB128 varint of at most 9 bytes (:func:`decode_varint`)."""
    value, cursor.pos = decode_varint(
        cursor.data, cursor.pos, what, end=cursor.end, truncated=cursor.error
    )
    return value


def _parse_name(cursor: _Cursor, what: str) -> str:
    """A u8-length-prefixed, non-empty, printable UTF-8 string."""
    (size,) = cursor.unpack(_U8, f"{what} length")
    if size == 0:
        raise CorruptHeaderError(f"{what} at byte {cursor.pos - 1} is empty")
    return _decode_name(cursor.take(size, what), what)


def _decode_name(raw: bytes, what: str) -> str:
    """A codec name or version from its bytes: non-empty, printable UTF-8."""
    if not raw:
        raise CorruptHeaderError(f"{what} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptHeaderError(f"{what} {raw!r} is not valid UTF-8") from None
    if not text.isprintable():
        raise CorruptHeaderError(f"{what} {text!r} holds non-printable characters")
    return text


def _reject_constant(name: str) -> Any:
    """``json.loads`` hook: refuse ``NaN``, ``Infinity`` and ``-Infinity``."""
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """``json.loads`` hook: refuse numbers that overflow to infinity (``1e400``)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is not finite")
    return value


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: build an object, refusing duplicate keys."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _parse_metadata(raw: bytes) -> dict[str, Any]:
    """The metadata JSON object; anything else raises ``CorruptHeaderError``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptHeaderError(f"metadata is not valid UTF-8 ({exc})") from None
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_object,
        )
    except RecursionError:
        raise CorruptHeaderError("metadata JSON is nested too deeply") from None
    except ValueError as exc:
        raise CorruptHeaderError(f"metadata is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CorruptHeaderError(
            f"metadata must be a JSON object, got a JSON {type(value).__name__}"
        )
    return value


def _short_hash(value: bytes) -> str:
    """First 12 hex digits of a model hash, or ``(none)``."""
    return value.hex()[:12] if value else "(none)"


def _check_codec(codec: str, version: str, codecs: Mapping[str, Collection[str]] | None) -> None:
    """Raise ``UnknownCodecError`` unless ``codecs`` is None or accepts codec/version."""
    if codecs is None:
        return
    if codec not in codecs:
        known = ", ".join(sorted(codecs)) or "none"
        raise UnknownCodecError(
            f"file was written by codec {codec!r} version {version!r}, "
            f"which is not installed (known codecs: {known})"
        )
    accepted = codecs[codec]
    if isinstance(accepted, (str, bytes)):
        raise InputError(
            "codecs", f"versions of {codec!r} must be a collection of str, not a single string"
        )
    if version not in accepted:
        versions = ", ".join(sorted(map(str, accepted))) or "none"
        raise UnknownCodecError(
            f"file was written by codec {codec!r} version {version!r}, "
            f"which this installation cannot read (supported versions: {versions})"
        )


def _check_model_hash(file_hash: bytes, expected: bytes | None) -> None:
    """Raise ``WeightsMismatchError`` unless ``expected`` is None or names the file's model."""
    if expected is not None and not hash_matches(file_hash, bytes(expected)):
        raise WeightsMismatchError(
            f"file was written with model weights {_short_hash(file_hash)}, "
            f"but the given weights hash to {_short_hash(bytes(expected))}"
        )


def _decode_compact(
    data: bytes,
    codecs: Mapping[str, Collection[str]] | None,
    expected_model_hash: bytes | None,
) -> RdlFile:
    """Decode a compact-layout file (magic already checked); see the module doc."""
    end = len(data) - _U32.size
    if end < len(COMPACT_MAGIC):
        raise TruncatedError(f"data is {len(data)} bytes, too short for a compact .rdl file")
    cursor = _Cursor(data, len(COMPACT_MAGIC), end, TruncatedError)

    # Structure first: every length against the bytes left before the CRC.
    def name_field(what: str) -> bytes:
        (size,) = cursor.unpack(_U8, f"{what} length")
        return cursor.take(size, what)

    codec_raw = name_field("codec name")
    version_raw = name_field("codec version")
    hash_raw = name_field("model hash")
    metadata_size = _read_varint(cursor, "metadata length")
    if metadata_size > min(MAX_HEADER_LENGTH, cursor.remaining()):
        raise LengthError(
            f"metadata length {metadata_size} exceeds the {cursor.remaining()} bytes that "
            f"follow (or the limit of {MAX_HEADER_LENGTH})"
        )
    metadata_raw = cursor.take(metadata_size, "metadata")
    count = _read_varint(cursor, "chunk count")
    if count > cursor.remaining() // 5:
        raise LengthError(
            f"chunk count {count} is impossible: {cursor.remaining()} bytes remain "
            "and each chunk takes at least 5"
        )
    header_size = cursor.pos
    records = []
    for index in range(count):
        start = cursor.pos
        raw_tag = cursor.take(4, f"chunk {index} tag")
        size = _read_varint(cursor, f"chunk {index} length")
        if size > cursor.remaining():
            raise LengthError(
                f"chunk {index} ({raw_tag!r}) at byte {start} declares {size} bytes, "
                f"but only {cursor.remaining()} remain"
            )
        records.append((raw_tag, cursor.pos, cursor.take(size, f"chunk {index} payload")))
    if cursor.remaining():
        raise TrailingDataError(
            f"{cursor.remaining()} bytes follow the last chunk (which ends at byte "
            f"{cursor.pos}) before the CRC"
        )
    (stored_crc,) = _U32.unpack_from(data, end)
    actual_crc = zlib.crc32(memoryview(data)[:end])
    if actual_crc != stored_crc:
        raise CorruptChunkError(
            f"file CRC mismatch: stored {stored_crc:08x}, computed {actual_crc:08x}"
        )

    # Then the fields' content.
    codec = _decode_name(codec_raw, "codec name")
    version = _decode_name(version_raw, "codec version")
    if len(hash_raw) not in (0, COMPACT_HASH_SIZE):
        raise CorruptHeaderError(
            f"model hash is {len(hash_raw)} bytes; a compact file has 0 or {COMPACT_HASH_SIZE}"
        )
    metadata = _parse_metadata(metadata_raw)
    _check_codec(codec, version, codecs)
    _check_model_hash(hash_raw, expected_model_hash)
    chunks = []
    for index, (raw_tag, _, payload) in enumerate(records):
        if not _is_tag(raw_tag):
            raise CorruptHeaderError(f"chunk {index}: tag {raw_tag!r} is not printable ASCII")
        chunks.append(Chunk(raw_tag.decode("ascii"), payload))
    result = RdlFile(codec, version, hash_raw, metadata, tuple(chunks))
    layout = Layout(
        format_major=COMPACT_MAGIC[4],
        format_minor=0,
        header_length=header_size - len(COMPACT_MAGIC),
        header_size=header_size,
        chunk_offsets=tuple(offset for _, offset, _ in records),
        total_size=len(data),
    )
    object.__setattr__(result, "layout", layout)
    return result


def decode_rdl(
    data: bytes | bytearray | memoryview,
    *,
    codecs: Mapping[str, Collection[str]] | None = None,
    expected_model_hash: bytes | None = None,
) -> RdlFile:
    """Decode the bytes of an ``.rdl`` file, checking everything (see the module doc).

    ``codecs`` maps each accepted codec name to its accepted versions; a file of another
    codec or version raises :class:`~rdlab.errors.UnknownCodecError`. ``None`` accepts
    any codec. ``expected_model_hash`` (32 bytes or ``b""``), when given, must match the
    file's model hash (:func:`hash_matches`), else
    :class:`~rdlab.errors.WeightsMismatchError`. Both layouts are read.

    Every problem with ``data`` raises a :class:`~rdlab.errors.FormatError` subclass;
    invalid ``codecs`` or ``expected_model_hash`` arguments raise
    :class:`~rdlab.errors.InputError`. The result's ``layout`` tells where each part
    lay in ``data``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError("data", f"must be bytes, got {type(data).__name__}")
    if expected_model_hash is not None and (
        not isinstance(expected_model_hash, (bytes, bytearray))
        or len(expected_model_hash) not in (0, HASH_SIZE)
    ):
        raise InputError("expected_model_hash", f"must be b'' or {HASH_SIZE} bytes")
    data = bytes(data)

    # 1-2: magic and version.
    if _check_magic(data):
        return _decode_compact(data, codecs, expected_model_hash)
    cursor = _Cursor(data, 0, len(data), TruncatedError)
    _, major, minor, header_length = cursor.unpack(_PREFIX, "file header")
    if major != FORMAT_MAJOR:
        raise UnsupportedVersionError(
            f"format version {major}.{minor} is not supported; "
            f"this reader understands {FORMAT_MAJOR}.x"
        )

    # 3: header length, before slicing anything.
    if header_length > MAX_HEADER_LENGTH:
        raise LengthError(
            f"header length {header_length} exceeds the limit of {MAX_HEADER_LENGTH} bytes"
        )
    if header_length > cursor.remaining():
        raise LengthError(
            f"header length {header_length} at byte 12 exceeds the "
            f"{cursor.remaining()} bytes that follow"
        )
    block_start = cursor.pos
    cursor.pos += header_length
    (stored_crc,) = cursor.unpack(_U32, "header CRC")

    # 4: header CRC.
    actual_crc = zlib.crc32(memoryview(data)[_VERSION_OFFSET : block_start + header_length])
    if actual_crc != stored_crc:
        raise CorruptHeaderError(
            f"header CRC mismatch: stored {stored_crc:08x}, computed {actual_crc:08x}"
        )

    # 5-6: header fields and metadata.
    block = _Cursor(data, block_start, block_start + header_length, CorruptHeaderError)
    codec = _parse_name(block, "codec name")
    version = _parse_name(block, "codec version")
    (hash_size,) = block.unpack(_U8, "model hash length")
    if hash_size not in (0, HASH_SIZE):
        raise CorruptHeaderError(f"model hash is {hash_size} bytes; must be 0 or {HASH_SIZE}")
    file_hash = block.take(hash_size, "model hash")
    (metadata_size,) = block.unpack(_U32, "metadata length")
    metadata_raw = block.take(metadata_size, "metadata")
    if block.remaining() and minor <= FORMAT_MINOR:
        raise CorruptHeaderError(
            f"header block has {block.remaining()} bytes after its last field "
            f"(format {major}.{minor} defines none)"
        )
    metadata = _parse_metadata(metadata_raw)

    # 7: codec and weights.
    _check_codec(codec, version, codecs)
    _check_model_hash(file_hash, expected_model_hash)

    # 8: chunks.
    header_size = cursor.pos + _U32.size
    (count,) = cursor.unpack(_U32, "chunk count")
    if count > cursor.remaining() // _CHUNK_HEAD.size:
        raise LengthError(
            f"chunk count {count} is impossible: {cursor.remaining()} bytes remain "
            f"and each chunk takes at least {_CHUNK_HEAD.size}"
        )
    chunks = []
    offsets = []
    for index in range(count):
        start = cursor.pos
        raw_tag, size, stored = cursor.unpack(_CHUNK_HEAD, f"chunk {index} head")
        if size > cursor.remaining():
            raise LengthError(
                f"chunk {index} ({raw_tag!r}) at byte {start} declares {size} bytes, "
                f"but only {cursor.remaining()} remain"
            )
        offsets.append(cursor.pos)
        payload = cursor.take(size, f"chunk {index} payload")
        actual = _chunk_crc(raw_tag, payload)
        if actual != stored:
            raise CorruptChunkError(
                f"chunk {index} ({raw_tag!r}) at byte {start}: CRC mismatch, "
                f"stored {stored:08x}, computed {actual:08x}"
            )
        if not _is_tag(raw_tag):
            raise CorruptHeaderError(
                f"chunk {index} at byte {start}: tag {raw_tag!r} is not printable ASCII"
            )
        chunks.append(Chunk(raw_tag.decode("ascii"), payload))

    # 9: nothing after the last chunk.
    if cursor.remaining():
        raise TrailingDataError(
            f"{cursor.remaining()} bytes follow the last chunk (which ends at byte {cursor.pos})"
        )

    result = RdlFile(codec, version, file_hash, metadata, tuple(chunks))
    layout = Layout(
        format_major=major,
        format_minor=minor,
        header_length=header_length,
        header_size=header_size,
        chunk_offsets=tuple(offsets),
        total_size=len(data),
    )
    object.__setattr__(result, "layout", layout)
    return result


# --------------------------------------------------------------------------- files


def write_rdl(
    path: str | os.PathLike[str],
    file: RdlFile,
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    compact: bool = False,
) -> int:
    """Write ``file`` to ``path`` atomically (``compact``: in the compact layout); return
    the number of bytes written.

    An invalid ``file`` raises :class:`~rdlab.errors.InputError` before anything is
    written; the rest is :func:`rdlab._files.write_atomic` (temporary file, fsync,
    rename; never over an existing file unless ``overwrite``, never over ``protect``).
    """
    data = encode_rdl(file, compact=compact)
    return write_atomic(path, data, overwrite=overwrite, protect=protect)


def read_rdl(
    path: str | os.PathLike[str],
    *,
    codecs: Mapping[str, Collection[str]] | None = None,
    expected_model_hash: bytes | None = None,
) -> RdlFile:
    """Read and decode the ``.rdl`` file at ``path`` (arguments as for :func:`decode_rdl`).

    A missing, unreadable or directory ``path`` raises :class:`~rdlab.errors.InputError`
    on argument ``"input"``; a bad file raises the :class:`~rdlab.errors.FormatError`
    subclass :func:`decode_rdl` raises, its message prefixed with the path.
    """
    source = os.fspath(path)
    data = read_bytes(source)
    try:
        return decode_rdl(data, codecs=codecs, expected_model_hash=expected_model_hash)
    except FormatError as exc:
        raise type(exc)(f"{source}: {exc}") from exc


# --------------------------------------------------------------------------- inspection


def describe(file: RdlFile, size_bytes: int | None = None) -> dict[str, Any]:
    """A JSON-ready summary of ``file`` (for ``rdlab inspect --json``).

    Offsets and sizes are in bytes and describe the bytes ``file`` was decoded from
    (its ``layout``), or its canonical encoding for a file built in memory. Keys:
    ``format_version`` (``"1.0"``; compact: ``"2.0"``), ``codec``, ``codec_version``,
    ``model_hash`` (hex or ``None``), ``metadata``, ``chunks`` (each ``tag``, ``offset``
    of the payload, ``length``, ``crc32`` as 8 hex digits; ``None`` in a compact file,
    whose one CRC covers the whole file), ``total_size``
    (``size_bytes`` when given, e.g. the size on disk), ``header_size`` (bytes before the
    first chunk record) and ``payload_bytes`` (sum of the chunk lengths).
    """
    layout = file.layout if file.layout is not None else _encode(file)[1]
    compact = layout.format_major == COMPACT_MAGIC[4]
    chunks = []
    for item, offset in zip(file.chunks, layout.chunk_offsets, strict=True):
        raw_tag = item.tag.encode("ascii")
        crc = None if compact else f"{_chunk_crc(raw_tag, bytes(item.payload)):08x}"
        chunks.append(
            {"tag": item.tag, "offset": offset, "length": len(item.payload), "crc32": crc}
        )
    return {
        "format_version": f"{layout.format_major}.{layout.format_minor}",
        "codec": file.codec,
        "codec_version": file.codec_version,
        "model_hash": file.model_hash.hex() if file.model_hash else None,
        "metadata": file.metadata,
        "chunks": chunks,
        "total_size": layout.total_size if size_bytes is None else int(size_bytes),
        "header_size": layout.header_size,
        "payload_bytes": sum(len(item.payload) for item in file.chunks),
    }
