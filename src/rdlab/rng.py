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
"""

from __future__ import annotations

import numpy as np

from . import detmath
from .errors import InputError

__all__ = [
    "exponential_rows",
    "normal_rows",
    "open_uniform_rows",
    "raw_words",
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


def open_uniform_rows(
    seed: int, stream: int, index: int, start: int, count: int, width: int
) -> np.ndarray:
    """As :func:`uniform_rows` but shifted by half a step into the open interval (0, 1):
    ``((w >> 11) + 1/2) · 2^-53``, so logarithms and quantiles stay finite."""
    words = _row_words(seed, stream, index, start, count, width)
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53 + 2.0**-54


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
