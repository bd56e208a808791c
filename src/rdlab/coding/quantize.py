"""Probabilities to integer frequencies: a deterministic integer procedure.

An entropy coder works with integer frequencies ``f`` that sum to exactly ``2**precision``.
:func:`quantize_probabilities` maps float probabilities to such frequencies so that

- every symbol keeps a frequency >= 1 (anything in the support can be coded),
- the result depends only on the float64 values given, through exactly rounded
  operations (scaling by a power of two, floor, integer sums and sorts with index
  tie-breaks), so it is identical on every machine,
- the loss against the given probabilities is small: floors plus largest remainders,
  and mass for clamped symbols is taken from the largest frequencies in proportion.
"""

from __future__ import annotations

import numpy as np

from .._arrays import float_array
from ..errors import InputError

PRECISION = 24
"""Default precision in bits: frequencies sum to ``2**24``, the precision of constriction's
default 32-bit range and ANS coders."""

MAX_PRECISION = 24


def _ranks_descending(keys: np.ndarray) -> np.ndarray:
    """Rank of each entry of each row when sorted by descending key, ties by index."""
    order = np.argsort(-keys, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(keys.shape[-1])[None, :], axis=-1)
    return ranks


def quantize_probabilities(
    probabilities: np.ndarray,
    precision: int = PRECISION,
    *,
    name: str = "probabilities",
    tolerance: float = 1e-6,
) -> np.ndarray:
    """Quantize probability tables to integer frequencies summing to ``2**precision``.

    Args:
        probabilities: shape ``(n,)`` or ``(rows, n)``; non-negative, finite, each row
            summing to 1 within ``tolerance`` (absolute).
        precision: bits of the fixed-point representation, 1..24.
        name: argument name used in error messages.
        tolerance: accepted absolute deviation of each row's sum from 1.

    Returns:
        int64 array of the same shape; every entry >= 1 and each row sums to
        ``2**precision`` exactly.

    Raises:
        InputError: negative, NaN or infinite entries, rows not summing to one, or more
            symbols than ``2**(precision - 1)``.
    """
    if not 1 <= precision <= MAX_PRECISION:
        raise InputError("precision", f"must be between 1 and {MAX_PRECISION}, got {precision}")
    p = float_array(probabilities, name)
    if p.ndim not in (1, 2):
        raise InputError(name, f"must be 1-D or 2-D, got {p.ndim}-D")
    squeeze = p.ndim == 1
    p = np.atleast_2d(p)
    rows, n = p.shape
    if n == 0:
        raise InputError(name, "has no symbols")
    total = 1 << precision
    if n > total // 2:
        raise InputError(name, f"has {n} symbols; at most {total // 2} fit precision {precision}")
    if (p < 0).any():
        raise InputError(name, "holds negative probabilities")
    sums = p.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0))) if rows else 0.0
    if worst > tolerance:
        raise InputError(
            name, f"rows must sum to 1 (within {tolerance:g}); worst sum is off by {worst:.3g}"
        )
    if rows == 0:
        return np.zeros((0, n) if not squeeze else (n,), dtype=np.int64)

    scaled = p * float(total)  # exact: multiplication by a power of two
    floors = np.floor(scaled)
    freq = np.maximum(floors.astype(np.int64), 1)
    remainder = np.where(floors >= 1, scaled - floors, -1.0)  # clamped symbols get nothing more

    deficit = total - freq.sum(axis=1)  # < n, may be negative after clamping
    # 1) hand out missing units to the largest remainders (ties: lower index first)
    if (deficit > 0).any():
        ranks = _ranks_descending(remainder)
        freq += (ranks < np.maximum(deficit, 0)[:, None]).astype(np.int64)
    # 2) take back excess units (from clamping) from the largest frequencies, in proportion
    excess = np.maximum(-deficit, 0)
    if (excess > 0).any():
        room = freq - 1
        room_total = room.sum(axis=1)
        share = (excess[:, None] * room) // np.maximum(room_total, 1)[:, None]
        freq -= share
        left = excess - share.sum(axis=1)
        keys = np.where(freq > 1, freq, -1).astype(np.float64)
        ranks = _ranks_descending(keys)
        freq -= (ranks < left[:, None]).astype(np.int64)
    return freq[0] if squeeze else freq
