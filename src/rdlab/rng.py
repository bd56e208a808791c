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
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["raw_words", "uniforms"]

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
