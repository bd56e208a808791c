"""Range-coded streams: integers in, bytes out, on constriction's range coder.

:class:`SymbolEncoder` and :class:`SymbolDecoder` wrap ``constriction``'s range coder
(a queue: what is encoded first is decoded first), so several sections can share one
stream: main symbols, then escaped values, then anything a codec adds. Decoding must
call the same methods in the same order with the same model arguments.

No Python runs per symbol: symbols are grouped per table (a stable sort by table
index, which the decoder repeats from the indexes it knows) and each group goes to the
native coder in one call.

Integer tables are handed to constriction as weights ``f - 1`` with ``perfect=False``:
its fast quantizer then reserves one unit per symbol and distributes the remaining
``2**24 - n`` units with a scale factor of exactly 1.0, which reproduces ``f`` exactly
(``tests/test_coding.py`` probes every CDF boundary to keep this true).

Stream bytes are the coder's 32-bit words, little-endian.

Checked ends: a range decoder cannot see where its data ends (past the end, constriction
reads zeros), so a stream cut short, or one with bytes after its last symbol, decodes to
*some* symbols. :class:`SymbolDecoder` therefore codes every symbol it decodes again, as
it goes, with the same model, and :meth:`SymbolDecoder.finish` compares those words with
the stream. The coder is deterministic, so a stream the encoder wrote is reproduced
exactly; a stream with bytes after its symbols never is (its symbols take fewer words),
and a stream cut short only if the zeros read past its end happen to decode to symbols
whose encoding is exactly the shorter stream. Both are refused with
:class:`~rdlab.errors.StreamEndError`. A word altered inside a stream changes the symbols
after it; the comparison catches that as far as the stream's last words pin the symbols
(0 to 32 bits, depending on the coder's final range): the container's CRCs are the check
for such damage. Before decoding, :func:`check_stream_room` refuses a declared symbol
count whose least possible cost (:meth:`FrequencyTables.least_bits`) cannot fit the
stream's bytes, so that a small file cannot make a decoder allocate for billions of
symbols.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import constriction
import numpy as np

from .._arrays import integer_array, to_numpy
from .._threads import usable_cores
from ..errors import CorruptStreamError, InputError, LengthError, StreamEndError
from .quantize import PRECISION, quantize_probabilities
from .tables import FrequencyTables

_model = constriction.stream.model
_queue = constriction.stream.queue

INT64_MAX = np.iinfo(np.int64).max
STREAM_SLACK_BITS = 64
"""Bits a stream may hold beyond ``8 * bytes`` in :func:`check_stream_room` (a margin: the
range coder's bound has none, see there)."""
_CHUNK_BITS = 16
_MAX_CLASS = 64  # bit lengths 0..64 of uint64 values


def constriction_model(frequencies: np.ndarray) -> Any:
    """A constriction categorical model whose 24-bit frequencies are exactly ``frequencies``.

    A one-symbol table is certain and costs no bits: it is represented by ``None``,
    which the coders skip (decoding answers zeros).
    """
    if int(frequencies.sum()) != 1 << PRECISION:
        raise InputError("frequencies", f"must sum to 2**{PRECISION} for constriction's coders")
    if frequencies.size == 1:
        return None
    return _model.Categorical((frequencies - 1).astype(np.float64), perfect=False)


_MODEL_CACHE: weakref.WeakKeyDictionary[FrequencyTables, list[Any]] = weakref.WeakKeyDictionary()


def _models(tables: FrequencyTables) -> list[Any]:
    models = _MODEL_CACHE.get(tables)
    if models is None:
        shift = PRECISION - tables.precision  # exact rescaling to constriction's precision
        models = [constriction_model(f << shift) for f in tables.frequencies]
        _MODEL_CACHE[tables] = models
    return models


def _escape_class_tables() -> FrequencyTables:
    """Bit-length classes 0..64 of escaped distances, probability ~ 2**-floor(L/2).

    Powers of two and a correctly rounded sum keep the table identical everywhere.
    """
    classes = np.arange(_MAX_CLASS + 1)
    p = np.ldexp(1.0, -(classes // 2))
    return FrequencyTables.from_probabilities(p / math.fsum(p.tolist()), escape=False)


_CLASS_TABLE = _escape_class_tables()


def bit_length(values: np.ndarray) -> np.ndarray:
    """Exact bit length of each uint64 value (0 for 0, 64 for values >= 2**63), int64."""
    x = np.asarray(values, dtype=np.uint64).copy()
    length = np.zeros(x.shape, dtype=np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        big = x >= np.uint64(1 << shift)
        x[big] >>= np.uint64(shift)
        length[big] += shift
    return length + (x > 0)


_PARALLEL_MIN = 1 << 18  # elements below which grouping runs in one thread
_WORKERS = max(1, min(2, usable_cores()))  # the bytes do not depend on the count
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="rdlab-group")
    return _POOL


def _forget_pool_after_fork() -> None:
    # a forked child (e.g. a DataLoader worker) has no pool threads: start a new pool
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


@dataclass(frozen=True)
class _Part:
    """A contiguous slice ``start:stop`` of the elements, grouped by table (stable order).

    ``order`` holds positions relative to ``start``; ``bounds[i]:bounds[i+1]`` is table
    ``i``'s stretch of ``order`` (and of ``values``, the part's values in that order).
    """

    start: int
    order: np.ndarray
    bounds: np.ndarray
    values: np.ndarray | None


def _narrow(values: np.ndarray) -> np.ndarray:
    """int32 when the values fit (halves the memory traffic of gathers), else int64."""
    if values.dtype == np.int32:
        return values
    if (
        values.dtype == np.int64
        and values.size
        and not (values.min() >= -(2**31) and values.max() < 2**31)
    ):
        return values
    return values.astype(np.int32)


ValuesOfPart = Callable[[int, int], np.ndarray]


def _group(
    keys: np.ndarray, count: int, values: np.ndarray | ValuesOfPart | None = None
) -> list[_Part]:
    """Stable grouping of elements by table index, in contiguous parts.

    The coding order is table-major and, inside a table, by position. Splitting the
    elements into contiguous parts and grouping each part keeps that order (part 0's
    elements of a table precede part 1's), so the stream does not depend on the number
    of parts; parts are grouped in parallel threads (NumPy releases the GIL in sorts).
    ``values`` is an array or a function giving the values of ``start:stop`` (so that
    producing them, e.g. quantizing latents, runs in the parts' threads too).
    """
    parts = _WORKERS if keys.size >= _PARALLEL_MIN else 1
    edges = [keys.size * k // parts for k in range(parts + 1)]

    def work(k: int) -> _Part:
        start, stop = edges[k], edges[k + 1]
        part_keys = keys[start:stop]
        order = np.argsort(part_keys, kind="stable")  # radix sort for 8- and 16-bit keys
        bounds = np.concatenate([[0], np.cumsum(np.bincount(part_keys, minlength=count))])
        if values is None:
            return _Part(start, order, bounds, None)
        mine = values(start, stop) if callable(values) else values[start:stop]
        return _Part(start, order, bounds, _narrow(mine)[order])

    if parts == 1:
        return [work(0)]
    return list(_pool().map(work, range(parts)))


def _table_counts(parts: list[_Part]) -> np.ndarray:
    return sum(np.diff(p.bounds) for p in parts)


def _table_keys(indexes: Any, count: int, name: str = "indexes") -> np.ndarray:
    """Validated table indexes, flattened, in the narrowest unsigned dtype that holds them."""
    idx = integer_array(indexes, name, narrow=True)
    if idx.size and (idx.min() < 0 or idx.max() >= count):
        raise InputError(name, f"must lie in [0, {count - 1}], got [{idx.min()}, {idx.max()}]")
    key_type = np.uint8 if count <= 1 << 8 else np.uint16 if count <= 1 << 16 else np.int64
    return idx.reshape(-1).astype(key_type, copy=False)


class SymbolEncoder:
    """Appends sections of symbols to one range-coded stream."""

    def __init__(self) -> None:
        self._coder = _queue.RangeEncoder()

    # -- primitives ------------------------------------------------------------
    def _encode_model(self, symbols: np.ndarray, model: Any) -> None:
        """Symbols in ``[0, n)`` of one constriction model (no checks: internal)."""
        if symbols.size and model is not None:
            self._coder.encode(np.ascontiguousarray(symbols, dtype=np.int32), model)

    def encode_uniform_bits(self, values: np.ndarray, bits: np.ndarray) -> None:
        """Each ``values[k] < 2**bits[k]`` (uint64, ``bits`` in 0..64) as raw bits."""
        values = np.asarray(values).ravel()
        bits = integer_array(bits, "bits").ravel()
        if values.dtype.kind not in "iu" or (
            values.dtype.kind == "i" and values.size and values.min() < 0
        ):
            raise InputError("values", "must be non-negative integers")
        values = values.astype(np.uint64)
        if bits.shape != values.shape:
            raise InputError("bits", f"has {bits.size} entries for {values.size} values")
        if bits.size and (bits.min() < 0 or bits.max() > 64):
            raise InputError("bits", "must lie in [0, 64]")
        with np.errstate(over="ignore"):
            limit = np.where(
                bits < 64, np.uint64(1) << np.minimum(bits, 63).astype(np.uint64), np.uint64(0)
            )
        if ((bits < 64) & (values >= limit)).any():
            raise InputError("values", "hold a value that does not fit its bit width")
        chunks, widths = _split_chunks(values, bits)
        if chunks.size:
            self._coder.encode(
                chunks.astype(np.int32), _model.Uniform(), (np.int32(1) << widths.astype(np.int32))
            )

    # -- sections ----------------------------------------------------------------
    def encode_values(self, values: Any, indexes: Any, tables: FrequencyTables) -> None:
        """Integers ``values`` each with table ``tables[indexes]`` (same shapes).

        Elements are coded grouped by table (stable order), so the decoder, knowing the
        indexes, can regroup them. Values outside a table's range are sent as the escape
        symbol; after all groups, each escaped value follows (in grouped order) as a side
        bit and its distance to the range (any int64 works). Without escape they are
        refused.
        """
        v = integer_array(values, "values", narrow=True).reshape(-1)
        idx = _table_keys(indexes, len(tables))
        if v.shape != idx.shape:
            raise InputError("indexes", f"has {idx.size} elements but values has {v.size}")
        self._encode_parts(_group(idx, len(tables), v), tables)

    def encode_values_of_parts(
        self, values: ValuesOfPart, indexes: Any, tables: FrequencyTables
    ) -> None:
        """As :meth:`encode_values`, with ``values(start, stop)`` giving the integer values
        of the flattened elements ``start:stop`` (called once per part, possibly from
        worker threads; it may raise :class:`~rdlab.errors.InputError`)."""
        self._encode_parts(_group(_table_keys(indexes, len(tables)), len(tables), values), tables)

    def _encode_parts(self, parts: list[_Part], tables: FrequencyTables) -> None:
        supports = tables.sizes - (1 if tables.escape else 0)
        models = _models(tables)
        escaped_values, escaped_lo, escaped_hi = [], [], []
        for i in np.flatnonzero(_table_counts(parts)):
            lo = int(tables.offsets[i])
            hi = lo + int(supports[i]) - 1
            for part in parts:
                group = part.values[part.bounds[i] : part.bounds[i + 1]]
                if group.size == 0:
                    continue
                if lo >= -(2**31) and hi < 2**31 and lo <= group.min() and group.max() <= hi:
                    # inside [lo, hi]: group - lo lies in [0, support) and fits int32
                    symbols = (group - group.dtype.type(lo)).astype(np.int32, copy=False)
                else:
                    group = group.astype(np.int64)
                    outside = (group < lo) | (group > hi)
                    if not tables.escape:
                        bad = int(group[outside][0])
                        raise InputError(
                            "values",
                            f"value {bad} is outside its table [{lo}, {hi}] "
                            "and the tables have no escape",
                        )
                    with np.errstate(over="ignore"):
                        symbols = np.where(outside, supports[i], group - lo).astype(np.int32)
                    escaped_values.append(group[outside])
                    escaped_lo.append(np.full(int(outside.sum()), lo, dtype=np.int64))
                    escaped_hi.append(np.full(int(outside.sum()), hi, dtype=np.int64))
                self._encode_model(symbols, models[i])
        if escaped_values:
            self._encode_escapes(
                np.concatenate(escaped_values),
                np.concatenate(escaped_lo),
                np.concatenate(escaped_hi),
            )

    def _encode_escapes(self, values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        above = values > hi
        with np.errstate(over="ignore"):
            distance = np.where(
                above,
                values.astype(np.uint64) - (hi + 1).astype(np.uint64),
                (lo - 1).astype(np.uint64) - values.astype(np.uint64),
            )
        self.encode_uniform_bits(above.astype(np.uint64), np.ones(values.size, np.int64))
        self.encode_nonnegative(distance)

    def encode_nonnegative(self, values: Any) -> None:
        """Unbounded non-negative integers (uint64) with an Elias-gamma-like code.

        The bit length L (0..64) is coded with a fixed table (probability about
        ``2**(-L/2)``), then the L - 1 bits below the leading one, raw.
        """
        u = np.asarray(values).ravel()
        if u.dtype.kind == "i":
            if u.size and u.min() < 0:
                raise InputError("values", "must be >= 0")
            u = u.astype(np.uint64)
        elif u.dtype.kind != "u":
            raise InputError("values", f"must be an integer array, got dtype {u.dtype}")
        u = u.astype(np.uint64)
        lengths = bit_length(u)
        self._encode_model(lengths, _models(_CLASS_TABLE)[0])
        mant_bits = np.maximum(lengths - 1, 0)
        with np.errstate(over="ignore"):
            mask = np.where(
                mant_bits > 0,
                (np.uint64(1) << mant_bits.astype(np.uint64)) - np.uint64(1),
                np.uint64(0),
            )
        self.encode_uniform_bits(u & mask, mant_bits)

    def encode_categorical(self, symbols: Any, frequencies: np.ndarray) -> None:
        """Symbols with one integer table per symbol (``frequencies`` shape ``(N, n)``)."""
        s = integer_array(symbols, "symbols").ravel()
        if s.size and frequencies.shape[-1] > 1:
            self._coder.encode(
                s.astype(np.int32),
                _model.Categorical(perfect=False),
                (frequencies - 1).astype(np.float64),
            )

    # -- output --------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The stream: 32-bit words, little-endian."""
        return self._coder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    """Reads back what a :class:`SymbolEncoder` wrote, section by section.

    Args:
        data: the stream (a whole number of 32-bit words).
        verify: code the decoded symbols again as they are decoded, so that
            :meth:`finish` can check the stream's end (about the cost of encoding them).
            Leave on unless the caller never calls :meth:`finish`.

    Raises:
        CorruptStreamError: ``data`` is not a whole number of 32-bit words.
    """

    def __init__(self, data: bytes | bytearray | memoryview, *, verify: bool = True) -> None:
        data = bytes(data)
        if len(data) % 4:
            raise CorruptStreamError(f"stream length {len(data)} is not a multiple of 4 bytes")
        self._words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._coder = _queue.RangeDecoder(self._words)
        self._shadow = _queue.RangeEncoder() if verify else None

    def _decode(self, model: Any, *params: Any) -> np.ndarray:
        """Symbols of ``model``: ``params`` is a count (a concrete model) or the model's
        parameter arrays (one entry per symbol)."""
        try:
            symbols = self._coder.decode(model, *params)
        except Exception as exc:  # constriction reports invalid data as generic errors
            raise CorruptStreamError(f"entropy-coded stream is invalid: {exc}") from None
        if self._shadow is not None:
            concrete = len(params) == 1 and isinstance(params[0], int)
            self._shadow.encode(symbols, model, *(() if concrete else params))
        return np.asarray(symbols, dtype=np.int64)

    def _decode_model(self, model: Any, count: int) -> np.ndarray:
        """``count`` symbols of one constriction model."""
        if count == 0 or model is None:
            return np.zeros(int(count), dtype=np.int64)
        return self._decode(model, int(count))

    def finish(self, what: str = "entropy-coded stream") -> None:
        """Check that the stream ends exactly where its decoded symbols do.

        Call once, after the last section. The symbols decoded so far, coded again with
        the same models, must give back the stream's words exactly (the encoder is
        deterministic; its final one or two words, which pad the stream to 32 bits, are
        compared too). That refuses a stream extended by any bytes and, but for
        freak cases, one cut short; a word altered inside the stream is caught as far
        as the last words pin the symbols (see the module doc).

        Args:
            what: names the stream in the error message (e.g. ``"chunk 'LATN'"``).

        Raises:
            StreamEndError: the stream was cut short (the decoder read past its end),
                bytes follow its last symbol, or its words are not the encoding of the
                symbols they decode to.
            InputError: the decoder was made with ``verify=False``.
        """
        if self._shadow is None:
            raise InputError("verify", "finish() needs a SymbolDecoder made with verify=True")
        expected = self._shadow.get_compressed()
        if np.array_equal(expected, self._words):
            return
        need, have = 4 * expected.size, 4 * self._words.size
        if need > have:
            detail = f"its symbols need {need} bytes, it has {have}: it was cut short"
        elif need < have:
            detail = f"{have - need} bytes follow its last symbol"
        else:
            detail = "its words are not the encoding of the symbols they decode to"
        raise StreamEndError(f"{what} does not end where its symbols do: {detail}")

    def decode_uniform_bits(self, bits: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`SymbolEncoder.encode_uniform_bits` (uint64)."""
        bits = np.asarray(bits, dtype=np.int64).ravel()
        n_chunks = (bits + _CHUNK_BITS - 1) // _CHUNK_BITS
        widths = _chunk_widths(bits, n_chunks)
        if widths.size == 0:
            return np.zeros(bits.size, dtype=np.uint64)
        chunks = self._decode(_model.Uniform(), np.int32(1) << widths.astype(np.int32))
        if (chunks < 0).any() or (chunks >= (np.int64(1) << widths)).any():
            raise CorruptStreamError("raw-bit section holds out-of-range chunks")
        return _join_chunks(chunks.astype(np.uint64), n_chunks)

    def decode_values(self, indexes: Any, tables: FrequencyTables) -> np.ndarray:
        """Inverse of :meth:`SymbolEncoder.encode_values`: int64 values, shape of ``indexes``."""
        shape = to_numpy(indexes, "indexes").shape
        idx = _table_keys(indexes, len(tables))
        parts = _group(idx, len(tables))
        counts = _table_counts(parts)
        models = _models(tables)
        supports = tables.sizes - (1 if tables.escape else 0)
        decoded: dict[int, np.ndarray] = {}
        escaped_at, escaped_lo, escaped_hi = [], [], []
        for i in np.flatnonzero(counts):
            group = self._decode_model(models[i], int(counts[i]))
            lo = int(tables.offsets[i])
            if tables.escape:
                outside = np.flatnonzero(group == supports[i])
                if outside.size:
                    escaped_at.append((i, outside))
                    escaped_lo.append(np.full(outside.size, lo, dtype=np.int64))
                    escaped_hi.append(np.full(outside.size, lo + int(supports[i]) - 1, np.int64))
            decoded[i] = group + lo
        if escaped_at:
            payload = self._decode_escapes(np.concatenate(escaped_lo), np.concatenate(escaped_hi))
            used = 0
            for i, outside in escaped_at:
                decoded[i][outside] = payload[used : used + outside.size]
                used += outside.size
        values = np.empty(idx.size, dtype=np.int64)
        taken = dict.fromkeys(decoded, 0)
        for part in parts:
            pieces = []
            for i, group in decoded.items():
                size = int(part.bounds[i + 1] - part.bounds[i])
                pieces.append(group[taken[i] : taken[i] + size])
                taken[i] += size
            grouped = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
            values[part.start + part.order] = grouped
        return values.reshape(shape)

    def _decode_escapes(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        above = self.decode_uniform_bits(np.ones(lo.size, np.int64)).astype(bool)
        distance = self.decode_nonnegative(lo.size)
        with np.errstate(over="ignore"):
            room_above = np.uint64(INT64_MAX) - (hi + 1).astype(np.uint64)
            room_below = (lo - 1).astype(np.uint64) - np.uint64(1 << 63)
            if ((above & (distance > room_above)) | (~above & (distance > room_below))).any():
                raise CorruptStreamError("escaped value does not fit int64")
            return np.where(
                above, (hi + 1).astype(np.uint64) + distance, (lo - 1).astype(np.uint64) - distance
            ).view(np.int64)

    def decode_nonnegative(self, count: int) -> np.ndarray:
        """Inverse of :meth:`SymbolEncoder.encode_nonnegative` (uint64)."""
        lengths = self._decode_model(_models(_CLASS_TABLE)[0], count)
        mant_bits = np.maximum(lengths - 1, 0)
        mantissa = self.decode_uniform_bits(mant_bits)
        with np.errstate(over="ignore"):
            lead = np.where(lengths > 0, np.uint64(1) << mant_bits.astype(np.uint64), np.uint64(0))
        return lead | mantissa

    def decode_categorical(self, frequencies: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`SymbolEncoder.encode_categorical`."""
        if frequencies.shape[0] == 0 or frequencies.shape[-1] == 1:
            return np.zeros(frequencies.shape[0], dtype=np.int64)
        return self._decode(_model.Categorical(perfect=False), (frequencies - 1).astype(np.float64))


def _chunk_widths(bits: np.ndarray, n_chunks: np.ndarray) -> np.ndarray:
    """Widths of the 16-bit chunks of each field, low chunk first, fields in order."""
    total = int(n_chunks.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    field = np.repeat(np.arange(bits.size), n_chunks)
    first = np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
    k = np.arange(total) - first
    return np.minimum(_CHUNK_BITS, bits[field] - _CHUNK_BITS * k)


def _split_chunks(values: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_chunks = (bits + _CHUNK_BITS - 1) // _CHUNK_BITS
    widths = _chunk_widths(bits, n_chunks)
    if widths.size == 0:
        return np.zeros(0, dtype=np.int64), widths
    field = np.repeat(np.arange(bits.size), n_chunks)
    first = np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
    shift = (_CHUNK_BITS * (np.arange(widths.size) - first)).astype(np.uint64)
    chunks = (values[field] >> shift) & np.uint64((1 << _CHUNK_BITS) - 1)
    return chunks.astype(np.int64), widths


def _join_chunks(chunks: np.ndarray, n_chunks: np.ndarray) -> np.ndarray:
    out = np.zeros(n_chunks.size, dtype=np.uint64)
    has = n_chunks > 0
    if not has.any():
        return out
    first = np.cumsum(n_chunks) - n_chunks
    within = np.arange(chunks.size) - np.repeat(first, n_chunks)
    shifted = chunks << (np.uint64(_CHUNK_BITS) * within.astype(np.uint64))
    out[has] = np.bitwise_or.reduceat(shifted, first[has])
    return out


# ---------------------------------------------------------------------- one-call API
def encode_values(values: Any, indexes: Any, tables: FrequencyTables) -> bytes:
    """Entropy-code integer ``values``, element ``k`` with table ``indexes[k]``.

    Args:
        values: integer array (any shape), coded as int64.
        indexes: integer array of the same shape, each in ``[0, len(tables))``.
        tables: the integer tables (with escape, any int64 value round-trips).

    Returns:
        The stream (bytes). The decoder needs ``indexes`` and ``tables`` again.
    """
    encoder = SymbolEncoder()
    encoder.encode_values(values, indexes, tables)
    return encoder.to_bytes()


def decode_values(data: bytes, indexes: Any, tables: FrequencyTables) -> np.ndarray:
    """Inverse of :func:`encode_values`: int64 array with the shape of ``indexes``.

    Raises:
        CorruptStreamError: ``data`` is not a stream of these tables;
            :class:`~rdlab.errors.StreamEndError` when it does not end with the last
            symbol (:meth:`SymbolDecoder.finish`).
    """
    decoder = SymbolDecoder(data)
    values = decoder.decode_values(indexes, tables)
    decoder.finish()
    return values


def check_stream_room(size_bytes: int, least_bits: float, what: str) -> None:
    """Refuse a symbol count that cannot fit a stream of ``size_bytes`` bytes.

    constriction's range coder (64-bit state, 32-bit words) narrows its range by at
    least the probability ``p`` of each symbol and emits one word each time the range
    falls below ``2**32`` (multiplying it by ``2**32``), plus at least one final word;
    since the range starts below ``2**64`` and stays at or above ``2**32``, symbols whose
    costs ``-log2 p`` sum to ``I`` bits need at least ``I / 32`` words: ``I <= 8 *
    size_bytes``. Call before allocating for the symbols, with ``least_bits`` the sum
    of each declared symbol's least cost (:meth:`FrequencyTables.least_bits`).

    Args:
        size_bytes: length of the stream in bytes.
        least_bits: a lower bound of the symbols' information content, in bits.
        what: names the stream and its symbols in the error message.

    Raises:
        LengthError: ``least_bits`` exceeds ``8 * size_bytes`` (plus
            :data:`STREAM_SLACK_BITS`).
    """
    room = 8 * int(size_bytes) + STREAM_SLACK_BITS
    if not least_bits <= room:
        raise LengthError(
            f"{what} need at least {least_bits:.0f} bits, but the stream has {size_bytes} "
            "bytes: its declared size is impossible"
        )


def _categorical_frequencies(probabilities: Any, count: int, precision: int) -> np.ndarray:
    """Integer tables at constriction's precision: shape ``(n,)`` (shared) or ``(count, n)``."""
    freqs = quantize_probabilities(probabilities, precision)
    if freqs.ndim == 2 and freqs.shape[0] != count:
        raise InputError("probabilities", f"has {freqs.shape[0]} rows for {count} symbols")
    return freqs << (PRECISION - precision)


def encode_categorical(symbols: Any, probabilities: Any, precision: int = PRECISION) -> bytes:
    """Entropy-code symbols in ``[0, n)`` with categorical probabilities.

    Args:
        symbols: integer array, any shape (flattened in C order).
        probabilities: shape ``(n,)`` shared by all symbols, or ``(symbols.size, n)`` one
            row per symbol; rows sum to one. Quantized to integers at ``precision`` bits
            by :func:`~rdlab.coding.quantize.quantize_probabilities`.
    """
    s = integer_array(symbols, "symbols").ravel()
    freqs = _categorical_frequencies(probabilities, s.size, precision)
    n = freqs.shape[-1]
    if s.size and (s.min() < 0 or s.max() >= n):
        raise InputError("symbols", f"must lie in [0, {n - 1}], got [{s.min()}, {s.max()}]")
    encoder = SymbolEncoder()
    if freqs.ndim == 1:
        encoder._encode_model(s, constriction_model(freqs))
    else:
        encoder.encode_categorical(s, freqs)
    return encoder.to_bytes()


def decode_categorical(
    data: bytes, probabilities: Any, count: int, precision: int = PRECISION
) -> np.ndarray:
    """Inverse of :func:`encode_categorical`: ``count`` int64 symbols."""
    if count < 0:
        raise InputError("count", "must be >= 0")
    freqs = _categorical_frequencies(probabilities, count, precision)
    decoder = SymbolDecoder(data)
    if freqs.ndim == 1:
        symbols = decoder._decode_model(constriction_model(freqs), count)
    else:
        symbols = decoder.decode_categorical(freqs)
    decoder.finish()
    return symbols
