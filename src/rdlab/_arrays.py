"""Argument checking shared by the numerical modules.

Every check raises :class:`rdlab.errors.InputError` naming the offending argument, so a
bad call fails with a clear message before any native library sees the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError


def to_numpy(value: Any, name: str) -> np.ndarray:
    """Return ``value`` as a NumPy array (torch tensors are detached and moved to the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputError(name, f"cannot be read as an array ({exc})") from None
    if array.dtype == object:
        raise InputError(name, "must be a numeric array, got objects (ragged or mixed input?)")
    return array


_NARROW = (np.int8, np.int16, np.int32, np.uint8, np.uint16)


def integer_array(value: Any, name: str, *, narrow: bool = False) -> np.ndarray:
    """An integer array as int64 (or, with ``narrow``, as given when its dtype is at most
    32 bits wide and so fits int64 arithmetic anyway). Booleans, floats and unsigned
    values >= 2**63 are refused."""
    array = to_numpy(value, name)
    if narrow and array.dtype.type in _NARROW:
        return array
    if array.size == 0 and array.dtype.kind == "f":  # an empty list reads as float64
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise InputError(name, f"must be an integer array, got dtype {array.dtype}")
    if array.dtype == np.uint64 and array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise InputError(name, "holds values >= 2**63, which do not fit int64")
    return array.astype(np.int64, copy=False)


def float_array(value: Any, name: str, *, finite: bool = True) -> np.ndarray:
    """A real array as float64; NaN and infinity are refused when ``finite``."""
    array = to_numpy(value, name)
    if array.dtype.kind not in "fiu":
        raise InputError(name, f"must be a real-valued array, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if finite and array.size and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(name, f"holds {bad} NaN or infinite value(s)")
    return array


def same_shape(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    """Refuse two arrays whose shapes differ."""
    if a.shape != b.shape:
        raise InputError(b_name, f"has shape {b.shape} but {a_name} has shape {a.shape}")


def optional_limit(value: Any, name: str) -> int | None:
    """A size limit argument: a positive integer, or None for no limit.

    Raises:
        InputError: on argument ``name``, for a bool, a non-integer or a value below 1.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(name, f"must be a positive integer or None, got {value!r}")
    return int(value)
