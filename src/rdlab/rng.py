"""Counter-based shared randomness: the same bits on every machine.

Encoder and decoder of a dithered or relative-entropy codec must draw *identical* random
numbers without sending them. Everything here is a pure function of integers:

    uniforms(seed, stream, index, count)  ->  count float64 values in [0, 1)

``seed`` names the experiment or file, ``stream`` separates independent uses (dither of
a latent, REC candidates of a block, ...), ``index`` numbers the block within the stream.
The values come from the Philox4x64-10 counter-based generator (Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC 2011) as implemented by NumPy's
``numpy.random.Philox``: key = (seed, stream), counter = (0, index, 0, 0); NumPy
guarantees that a bit generator's raw stream never changes between releases and
platforms, and ``tests/test_rng.py`` pins test vectors. A block therefore never depends
on how many other blocks were drawn, in which order, or on which thread.

A raw 64-bit word ``w`` becomes the double ``(w >> 11) · 2^-53`` (exact: all 2^53
multiples of 2^-53 in [0, 1) are equally likely).

Random access: :func:`uniform_rows` reads rows ``start .. start + count`` of the
row-major matrix of width ``width`` whose flattening is block ``index``'s stream, by
setting Philox's counter to the row's first word (Python integers throughout: no 32-bit
index arithmetic, row × width may exceed 2^63). :func:`open_uniform_rows`,
:func:`normal_rows` and :func:`exponential_rows` transform those words with rdlab's own
bit-reproducible functions (:mod:`rdlab.detmath`), so relative entropy coding can
regenerate candidate ``k`` of block ``b`` without drawing candidates ``0 .. k - 1``.

Many blocks at once: :func:`raw_words_at` and :func:`open_uniform_rows_at` read one row
of each of many blocks (one client's candidate each, say) in a single vectorized pass of
Philox4x64-10 written with NumPy integer operations, word for word what NumPy's
``Philox`` gives for each block alone (pinned by ``tests/test_rng.py``).
"""

from __future__ import annotations

import numpy as np

from . import detmath
from .errors import InputError

__all__ = [
    "exponential_rows",
    "normal_rows",
    "open_uniform_rows",
    "open_uniform_rows_at",
    "raw_words",
    "raw_words_at",
    "uniform_rows",
    "uniforms",
]

_U64_MAX = (1 << 64) - 1


def _u64(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(name, f"must be an integer, got {value!r}")
    v = int(value)
    if not 0 <= v <= _U64_MAX:
        raise InputError(name, f"must be in [0, 2^64), got {v}")
    return v


def raw_words(seed: int, stream: int, index: int, count: int) -> np.ndarray:
    """``count`` raw uint64 words of block ``index`` of stream ``stream`` under ``seed``."""
    key = np.array([_u64(seed, "seed"), _u64(stream, "stream")], dtype=np.uint64)
    counter = np.array([0, _u64(index, "index"), 0, 0], dtype=np.uint64)
    n = _u64(count, "count")
    return np.random.Philox(key=key, counter=counter).random_raw(n).astype(np.uint64)


def uniforms(seed: int, stream: int, index: int, shape: int | tuple[int, ...]) -> np.ndarray:
    """Float64 uniforms on [0, 1) of the given ``shape`` (multiples of 2^-53), block
    ``index`` of stream ``stream`` under ``seed``; identical on every machine."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    for d in dims:
        _u64(d, "shape")
    words = raw_words(seed, stream, index, int(np.prod(dims, dtype=np.int64)))
    return ((words >> np.uint64(11)).astype(np.float64) * 2.0**-53).reshape(dims)


def _row_words(
    seed: int, stream: int, index: int, start: int, count: int, width: int
) -> np.ndarray:
    """Raw words of rows ``start .. start + count`` (width ``width``), shape (count, width)."""
    start, count, width = _u64(start, "start"), _u64(count, "count"), _u64(width, "width")
    first = start * width  # Python int: exact
    end = first + count * width
    if (end + 3) // 4 > _U64_MAX:
        raise InputError("start", "rows beyond 2^66 words of one block are not addressable")
    key = np.array([_u64(seed, "seed"), _u64(stream, "stream")], dtype=np.uint64)
    counter = np.array([first // 4, _u64(index, "index"), 0, 0], dtype=np.uint64)
    skip = first % 4
    words = np.random.Philox(key=key, counter=counter).random_raw(skip + count * width)
    return words[skip:].astype(np.uint64).reshape(count, width)


def uniform_rows(
    seed: int, stream: int, index: int, start: int, count: int, width: int
) -> np.ndarray:
    """Rows ``start .. start + count`` of the (infinitely tall) matrix of width ``width``
    filled row by row with ``uniforms(seed, stream, index, ...)``: float64 in [0, 1),
    shape (count, width). Row ``k`` is the same whichever rows are read with it."""
    words = _row_words(seed, stream, index, start, count, width)
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53


_OPEN_TOP = 1.0 - 2.0**-53


def _open(words: np.ndarray) -> np.ndarray:
    """``((w >> 11) + 1/2) · 2^-53``, kept below 1: the top 2048 words (probability
    2^-53) would round to exactly 1.0 and give infinite quantiles; they map to 1 - 2^-53."""
    u = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53 + 2.0**-54
    return np.minimum(u, _OPEN_TOP)


def open_uniform_rows(
    seed: int, stream: int, index: int, start: int, count: int, width: int
) -> np.ndarray:
    """As :func:`uniform_rows` but shifted by half a step into the open interval (0, 1):
    ``((w >> 11) + 1/2) · 2^-53`` (at most ``1 - 2^-53``), so logarithms and quantiles
    stay finite."""
    words = _row_words(seed, stream, index, start, count, width)
    return _open(words)


def normal_rows(
    seed: int, stream: int, index: int, start: int, count: int, width: int
) -> np.ndarray:
    """Standard normal variates by the inverse CDF of :func:`open_uniform_rows`
    (:func:`rdlab.detmath.normal_ppf`: identical bits on every machine), shape (count, width).
    |z| <= 8.3 (the open uniforms stay 2^-54 away from 0 and 1)."""
    return detmath.normal_ppf(open_uniform_rows(seed, stream, index, start, count, width))


def exponential_rows(
    seed: int, stream: int, index: int, start: int, count: int, width: int
) -> np.ndarray:
    """Exp(1) variates ``-log(u)`` of :func:`open_uniform_rows` (bit-reproducible log),
    shape (count, width); all finite and positive."""
    return -detmath.log(open_uniform_rows(seed, stream, index, start, count, width))


# ---------------------------------------------------------------------------------------
# Philox4x64-10 over many counters at once
# ---------------------------------------------------------------------------------------

_PHILOX_M = (np.uint64(0xD2E7470EE14C6C93), np.uint64(0xCA5A826395121157))
_PHILOX_W = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBB67AE8584CAA73B))
_LO32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def _mulhilo(a: np.uint64, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """High and low 64-bit halves of the 128-bit products ``a * b`` (uint64 arrays)."""
    a0, a1 = a & _LO32, a >> _S32
    b0, b1 = b & _LO32, b >> _S32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _S32) + (p01 & _LO32) + (p10 & _LO32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return hi, a * b


def _philox_blocks(key0: int, key1: int, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Philox4x64-10 of counters ``(c0, c1, 0, 0)`` under key (key0, key1): shape (n, 4)."""
    x0, x1 = c0.astype(np.uint64), c1.astype(np.uint64)
    x2 = np.zeros_like(x0)
    x3 = np.zeros_like(x0)
    k0, k1 = np.uint64(key0), np.uint64(key1)
    with np.errstate(over="ignore"):
        for r in range(10):
            if r:
                k0, k1 = k0 + _PHILOX_W[0], k1 + _PHILOX_W[1]
            hi0, lo0 = _mulhilo(_PHILOX_M[0], x0)
            hi1, lo1 = _mulhilo(_PHILOX_M[1], x2)
            x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return np.stack([x0, x1, x2, x3], axis=1)


_FEW_ROWS = 8


def _words_from(key0: int, key1: int, index: int, first: int, count: int) -> np.ndarray:
    """Words ``first .. first + count`` of block ``index`` by NumPy's Philox (uint64)."""
    key = np.array([key0, key1], dtype=np.uint64)
    counter = np.array([first // 4, index, 0, 0], dtype=np.uint64)
    words = np.random.Philox(key=key, counter=counter).random_raw(first % 4 + count)
    return words[first % 4 :].astype(np.uint64)


def raw_words_at(
    seed: int, stream: int, indices: np.ndarray, first_words: np.ndarray, count: int
) -> np.ndarray:
    """Words ``first_words[i] .. first_words[i] + count`` of block ``indices[i]``'s stream,
    for every ``i`` at once: uint64, shape (n, count). Row ``i`` equals
    ``raw_words(seed, stream, indices[i], first_words[i] + count)[first_words[i]:]``.

    Raises :class:`InputError` for negative or too large indices and offsets."""
    key0, key1 = _u64(seed, "seed"), _u64(stream, "stream")
    count = _u64(count, "count")
    idx = np.asarray(indices)
    first = np.asarray(first_words)
    if idx.ndim != 1 or first.shape != idx.shape:
        raise InputError("indices", "indices and first_words must be 1-D of one length")
    if idx.size == 0 or count == 0:
        return np.zeros((idx.size, count), dtype=np.uint64)
    for arr, name in ((idx, "indices"), (first, "first_words")):
        if arr.dtype.kind not in "iu" or (arr.dtype.kind == "i" and (arr < 0).any()):
            raise InputError(name, "must be non-negative integers")
    first = first.astype(np.uint64)
    if int(first.max()) + count > _U64_MAX:
        raise InputError("first_words", "words beyond 2^64 of one block are not addressable")
    if idx.size <= _FEW_ROWS:  # NumPy's own Philox is faster for a handful of rows
        return np.stack(
            [
                _words_from(key0, key1, int(i), int(f), count)
                for i, f in zip(idx.tolist(), first.tolist(), strict=True)
            ]
        )
    # NumPy's Philox increments its counter before each 4-word output block, so word w of
    # a block with counter (0, index, 0, 0) comes from counter (w // 4 + 1, index, 0, 0)
    words = first[:, None] + np.arange(count, dtype=np.uint64)[None, :]
    ctr0 = (words >> np.uint64(2)) + np.uint64(1)
    lanes = (words & np.uint64(3)).astype(np.intp)
    c0 = ctr0.ravel()
    c1 = np.broadcast_to(idx.astype(np.uint64)[:, None], words.shape).ravel()
    out = _philox_blocks(key0, key1, c0, c1)
    return out[np.arange(c0.size), lanes.ravel()].reshape(words.shape)


def open_uniform_rows_at(
    seed: int, stream: int, indices: np.ndarray, rows: np.ndarray, width: int
) -> np.ndarray:
    """Row ``rows[i]`` (width ``width``) of block ``indices[i]``, for every ``i``: the open
    uniforms of :func:`open_uniform_rows`, float64, shape (n, width)."""
    width = _u64(width, "width")
    r = np.asarray(rows)
    if r.dtype.kind not in "iu" or (r.dtype.kind == "i" and (r < 0).any()):
        raise InputError("rows", "must be non-negative integers")
    if r.size and (int(r.max()) + 1) * width > _U64_MAX:
        raise InputError("rows", "rows beyond 2^64 words of one block are not addressable")
    words = raw_words_at(seed, stream, indices, r.astype(np.uint64) * np.uint64(width), width)
    return _open(words)
