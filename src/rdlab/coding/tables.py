"""Sets of integer frequency tables, the models the entropy coder codes with.

A :class:`FrequencyTables` holds ``len(tables)`` integer frequency tables. Table ``i``
codes the integers ``offsets[i] .. offsets[i] + support_size(i) - 1``; when the set has
an *escape*, the last symbol of every table stands for "outside that range" and the
value itself is sent after the main symbols with a universal code (see
:mod:`rdlab.coding.stream`), so any int64 round-trips.

Constructors cover what learned codecs need:

- :meth:`FrequencyTables.from_probabilities`: categorical tables from probability vectors;
- :meth:`FrequencyTables.from_cdfs`: learned non-parametric CDFs (a factorized prior),
  evaluated at the bin edges ``offset - 0.5, offset + 0.5, ...``;
- :func:`location_scale_tables`: discretized Gaussian, Laplace or logistic distributions,
  one table per entry of a scale table (usually log-spaced, :func:`log_scale_table`),
  with masses computed by :mod:`rdlab.detmath` so that encoder and decoder build the same
  integers on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .. import detmath
from .._arrays import float_array, integer_array
from ..errors import InputError
from .quantize import PRECISION, quantize_probabilities

FAMILIES = ("gaussian", "laplace", "logistic")
"""Location-scale families: ``scale`` is the standard deviation (Gaussian), the diversity
``b`` of density ``exp(-|x|/b) / (2b)`` (Laplace), or ``s`` of the logistic with CDF
``1 / (1 + exp(-x/s))``."""

_SURVIVAL = {
    "gaussian": detmath.normal_sf,
    "laplace": detmath.laplace_sf,
    "logistic": detmath.logistic_sf,
}

# Half-width of a table in units of the scale: the mass beyond it is about 2**-26 or
# less, below what a 24-bit frequency can represent; it goes to the escape symbol.
_TAIL_WIDTH = {"gaussian": 5.5, "laplace": 17.5, "logistic": 18.5}


@dataclass(frozen=True, eq=False)
class FrequencyTables:
    """Integer frequency tables with their value offsets.

    Attributes:
        frequencies: one int64 array per table, entries >= 1, each summing to
            ``2**precision``. With ``escape`` the last entry is the escape symbol.
        offsets: int64 array, ``offsets[i]`` is the value coded by symbol 0 of table ``i``.
        escape: whether the last symbol of each table is an escape.
        precision: bits; frequencies sum to ``2**precision``.
        description: JSON-ready description of how the tables were made (for fingerprints).
    """

    frequencies: tuple[np.ndarray, ...]
    offsets: np.ndarray
    escape: bool = True
    precision: int = PRECISION
    description: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.frequencies) == 0:
            raise InputError("frequencies", "needs at least one table")
        if self.offsets.shape != (len(self.frequencies),):
            raise InputError("offsets", f"needs one offset per table ({len(self.frequencies)})")
        total = 1 << self.precision
        for i, f in enumerate(self.frequencies):
            if f.ndim != 1 or f.size < (2 if self.escape else 1):
                raise InputError("frequencies", f"table {i} is too small or not 1-D")
            if (f < 1).any() or int(f.sum()) != total:
                raise InputError(
                    "frequencies", f"table {i} must be >= 1 and sum to 2**{self.precision}"
                )

    @classmethod
    def from_frequencies(
        cls,
        frequencies: Sequence[np.ndarray] | np.ndarray,
        offsets: Sequence[int] | np.ndarray | int = 0,
        *,
        escape: bool = True,
        precision: int = PRECISION,
    ) -> FrequencyTables:
        """Tables from integer frequencies (each table must sum to ``2**precision``)."""
        tables = tuple(integer_array(f, "frequencies").ravel() for f in _rows(frequencies))
        return cls(
            tables,
            _offsets(offsets, len(tables)),
            escape,
            precision,
            {"kind": "frequencies", "digest": _digest_arrays(tables)},
        )

    @classmethod
    def from_probabilities(
        cls,
        probabilities: Sequence[np.ndarray] | np.ndarray,
        offsets: Sequence[int] | np.ndarray | int = 0,
        *,
        escape: bool = False,
        precision: int = PRECISION,
        tolerance: float = 1e-6,
    ) -> FrequencyTables:
        """Categorical tables from probability vectors (each summing to one).

        With ``escape=True`` a further symbol of minimal frequency is appended to each
        table for values outside ``offset .. offset + n - 1``.
        """
        tables = []
        for row in _rows(probabilities):
            p = float_array(row, "probabilities").ravel()
            if escape:
                p = np.append(p, 0.0)
            tables.append(quantize_probabilities(p, precision, tolerance=tolerance))
        return cls(
            tuple(tables),
            _offsets(offsets, len(tables)),
            escape,
            precision,
            {"kind": "probabilities", "digest": _digest_arrays(tables)},
        )

    @classmethod
    def from_cdfs(
        cls,
        cdfs: Sequence[np.ndarray] | np.ndarray,
        offsets: Sequence[int] | np.ndarray | int,
        *,
        precision: int = PRECISION,
    ) -> FrequencyTables:
        """Tables from CDFs at bin edges (learned non-parametric densities).

        ``cdfs[i]`` has ``n_i + 1`` non-decreasing values in [0, 1]:
        ``cdfs[i][j] = P(X <= offsets[i] + j - 0.5)``. Symbol ``j`` has mass
        ``cdfs[i][j+1] - cdfs[i][j]``; the mass outside (``cdfs[i][0] + 1 - cdfs[i][-1]``)
        goes to the escape symbol, so every integer stays codable.
        """
        tables = []
        for i, row in enumerate(_rows(cdfs)):
            c = float_array(row, "cdfs").ravel()
            if c.size < 2:
                raise InputError("cdfs", f"table {i} needs at least two edges")
            if (c < 0).any() or (c > 1).any():
                raise InputError("cdfs", f"table {i} has values outside [0, 1]")
            if (np.diff(c) < 0).any():
                raise InputError("cdfs", f"table {i} is not non-decreasing")
            masses = np.append(np.diff(c), c[0] + (1.0 - c[-1]))
            tables.append(quantize_probabilities(masses, precision, name="cdfs"))
        return cls(
            tuple(tables),
            _offsets(offsets, len(tables)),
            True,
            precision,
            {"kind": "cdfs", "digest": _digest_arrays(tables)},
        )

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.frequencies)

    def support_size(self, index: int) -> int:
        """Number of values table ``index`` codes directly (without the escape)."""
        return int(self.frequencies[index].size) - (1 if self.escape else 0)

    @property
    def sizes(self) -> np.ndarray:
        """int64 array: number of symbols (escape included) in each table."""
        return np.array([f.size for f in self.frequencies], dtype=np.int64)

    def fingerprint(self) -> str:
        """SHA-256 hex of the integer tables and offsets: equal iff the coder is equal."""
        h = hashlib.sha256()
        h.update(json.dumps({"escape": self.escape, "precision": self.precision}).encode())
        h.update(np.ascontiguousarray(self.offsets, dtype="<i8").tobytes())
        for f in self.frequencies:
            h.update(np.int64(f.size).astype("<i8").tobytes())
            h.update(np.ascontiguousarray(f, dtype="<i8").tobytes())
        return h.hexdigest()

    def log2_probabilities(self, index: int) -> np.ndarray:
        """log2 of the coded probability of each symbol of table ``index`` (bits, <= 0)."""
        return np.log2(self.frequencies[index].astype(np.float64)) - self.precision

    def least_bits(self) -> np.ndarray:
        """The fewest bits any symbol of each table costs: ``-log2`` of its largest coded
        probability (float64 ``(len(self),)``, >= 0; 0 for a one-symbol table).

        ``count`` symbols of table ``i`` cost at least ``count * least_bits()[i]`` bits
        of a range-coded stream, whatever their values: the lower bound that
        :func:`rdlab.coding.stream.check_stream_room` holds a declared size to.
        """
        return np.array([self.precision - float(np.log2(float(f.max()))) for f in self.frequencies])

    def information_content_bits(self, values: Any, indexes: Any) -> float:
        """Bits the main symbols cost under these integer tables: ``-sum log2(f / 2**P)``.

        Escaped values count the escape symbol only (their payload is coded after the
        main symbols). The range coder's output exceeds this by at most a few words.
        """
        v = integer_array(values, "values").ravel()
        idx = integer_array(indexes, "indexes").ravel()
        if v.shape != idx.shape:
            raise InputError("indexes", f"has {idx.size} elements but values has {v.size}")
        total = 0.0
        for i in np.unique(idx):
            table = int(i)
            if not 0 <= table < len(self):
                raise InputError("indexes", f"index {table} is not a table (have {len(self)})")
            support = self.support_size(table)
            symbols = v[idx == i] - self.offsets[table]
            inside = (symbols >= 0) & (symbols < support)
            if not self.escape and not inside.all():
                raise InputError(
                    "values", f"a value is outside table {table} and there is no escape"
                )
            symbols = np.where(inside, symbols, support)
            total += float(-self.log2_probabilities(table)[symbols].sum())
        return total


def _rows(tables: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(tables, np.ndarray):
        if tables.ndim == 1:
            return [tables]
        if tables.ndim == 2:
            return list(tables)
        raise InputError(
            "tables", f"must be 1-D, 2-D or a sequence of 1-D arrays, got {tables.ndim}-D"
        )
    rows = list(tables)
    if rows and np.ndim(rows[0]) == 0:  # a single table given as a flat list
        return [np.asarray(rows)]
    return [np.asarray(r) for r in rows]


def _offsets(offsets: Sequence[int] | np.ndarray | int, count: int) -> np.ndarray:
    off = integer_array(offsets, "offsets")
    if off.ndim == 0:
        off = np.full(count, int(off), dtype=np.int64)
    if off.shape != (count,):
        raise InputError("offsets", f"needs one offset per table ({count}), got shape {off.shape}")
    return off


def _digest_arrays(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
    return h.hexdigest()[:16]


def log_scale_table(minimum: float = 0.11, maximum: float = 256.0, levels: int = 64) -> np.ndarray:
    """``levels`` log-spaced scales from ``minimum`` to ``maximum`` (float64).

    Computed with :mod:`rdlab.detmath` so that the table is bit-identical everywhere.
    """
    if not (np.isfinite(minimum) and np.isfinite(maximum) and 0 < minimum < maximum):
        raise InputError("minimum", f"need 0 < minimum < maximum, got {minimum} and {maximum}")
    if levels < 2:
        raise InputError("levels", f"must be >= 2, got {levels}")
    lo = detmath.log(np.float64(minimum))
    hi = detmath.log(np.float64(maximum))
    steps = np.arange(levels, dtype=np.float64) / float(levels - 1)
    scales = detmath.exp(lo + (hi - lo) * steps)
    scales[0], scales[-1] = minimum, maximum
    return np.asarray(scales, dtype=np.float64)


def location_scale_probabilities(family: str, scale: float) -> tuple[int, np.ndarray]:
    """Masses of a discretized zero-centred family on the integers, plus the tails.

    Returns ``(K, p)`` where ``p`` has ``2K + 2`` float64 entries: the masses of the bins
    ``[k - 0.5, k + 0.5)`` for ``k = -K .. K``, then the two tails beyond ``K + 0.5``
    together (the escape). Uses only deterministic arithmetic (see :mod:`rdlab.detmath`).
    """
    sf = _SURVIVAL[family]
    half = max(1, int(np.ceil(scale * _TAIL_WIDTH[family])))
    k = np.arange(1, half + 1, dtype=np.float64)
    upper = sf((k - 0.5) / scale) - sf((k + 0.5) / scale)  # bins k = 1..K
    centre = 1.0 - 2.0 * sf(np.float64(0.5) / scale)
    tail = 2.0 * sf((half + 0.5) / scale)
    masses = np.concatenate([upper[::-1], np.atleast_1d(centre), upper, np.atleast_1d(tail)])
    return half, np.asarray(masses, dtype=np.float64)


def _escape_tables(pieces: Any, precision: int, description: dict[str, Any]) -> FrequencyTables:
    """Escape-terminated tables from ``(K, masses)`` pairs (bins ``-K .. K``, then the
    tails: :func:`location_scale_probabilities`)."""
    tables, offsets = [], []
    for half, masses in pieces:
        tables.append(quantize_probabilities(masses, precision, name="scales"))
        offsets.append(-half)
    return FrequencyTables(
        tuple(tables), np.asarray(offsets, dtype=np.int64), True, precision, description
    )


@lru_cache(maxsize=64)
def _location_scale_cached(family: str, scales: bytes, precision: int) -> FrequencyTables:
    scale_values = np.frombuffer(scales, dtype="<f8")
    description = {
        "kind": "location-scale",
        "family": family,
        "scales": [float(s) for s in scale_values],
        "precision": precision,
    }
    pieces = (location_scale_probabilities(family, float(s)) for s in scale_values)
    return _escape_tables(pieces, precision, description)


def location_scale_tables(
    family: str, scales: Sequence[float] | np.ndarray, precision: int = PRECISION
) -> FrequencyTables:
    """One escape-terminated table per scale for a discretized location-scale family.

    Table ``i`` codes the integer residual ``round(y - mean)`` of a latent with scale
    ``scales[i]`` (see :data:`FAMILIES` for what "scale" means per family). The tables
    are cached per ``(family, scales, precision)``.
    """
    family = family.lower()
    if family not in FAMILIES:
        raise InputError("family", f"must be one of {', '.join(FAMILIES)}, got {family!r}")
    s = float_array(scales, "scales").ravel()
    if s.size == 0:
        raise InputError("scales", "is empty")
    if (s <= 0).any():
        raise InputError("scales", "must be > 0")
    if s.max() > 1e6:
        raise InputError("scales", f"{s.max():g} is too large for an integer table (max 1e6)")
    return _location_scale_cached(family, np.ascontiguousarray(s, dtype="<f8").tobytes(), precision)


def shifted_location_scale_probabilities(
    family: str, scale: float, shift: float
) -> tuple[int, np.ndarray]:
    """Masses of a discretized family centred at ``shift`` (in ``[0, 1)``) on the integers.

    Returns ``(K, p)``: ``p`` has ``2K + 2`` float64 entries, the masses of the bins
    ``[k - 0.5, k + 0.5)`` for ``k = -K .. K`` under the density centred at ``shift``,
    then both tails together (the escape). Each bin's mass is taken on the side of the
    centre where it is small (``sf`` above, ``sf`` of the reflection below), so tail bins
    keep their relative accuracy. Deterministic arithmetic only (:mod:`rdlab.detmath`).
    """
    sf = _SURVIVAL[family]
    half = max(1, int(np.ceil(scale * _TAIL_WIDTH[family])) + 1)
    k = np.arange(-half, half + 1, dtype=np.float64)
    lower = (k - 0.5 - shift) / scale
    upper = (k + 0.5 - shift) / scale
    above = sf(lower) - sf(upper)  # exact side for bins right of the centre
    below = sf(-upper) - sf(-lower)  # the reflection, for bins left of it
    masses = np.where(lower >= 0.0, above, np.where(upper <= 0.0, below, 0.0))
    inside = (lower < 0.0) & (upper > 0.0)
    masses[inside] = 1.0 - sf(-lower[inside]) - sf(upper[inside])
    tail = sf(upper[-1:]) + sf(-lower[:1])
    return half, np.concatenate([masses, tail]).astype(np.float64)


@lru_cache(maxsize=16)
def _shifted_cached(family: str, scales: bytes, shifts: int, precision: int) -> FrequencyTables:
    scale_values = np.frombuffer(scales, dtype="<f8")
    description = {
        "kind": "shifted-location-scale",
        "family": family,
        "scales": [float(s) for s in scale_values],
        "shifts": shifts,
        "precision": precision,
    }
    pieces = (
        shifted_location_scale_probabilities(family, float(s), j / shifts)
        for s in scale_values
        for j in range(shifts)
    )
    return _escape_tables(pieces, precision, description)


def shifted_location_scale_tables(
    family: str, scales: Sequence[float] | np.ndarray, shifts: int, precision: int = PRECISION
) -> FrequencyTables:
    """Escape-terminated tables for every (scale, mean fraction) pair.

    Table ``i * shifts + j`` codes the integer ``v - floor(m)`` of a value ``v`` whose
    mean ``m`` has fractional part ``j / shifts`` and whose scale is ``scales[i]``:
    a mean known to ``1 / shifts`` of a step costs no rounding of the mean to an integer.
    Cached per ``(family, scales, shifts, precision)``.

    Raises:
        InputError: an unknown family, an empty scale table, scales <= 0 or above 1e6,
            ``shifts`` outside 1..64.
    """
    family = family.lower()
    if family not in FAMILIES:
        raise InputError("family", f"must be one of {', '.join(FAMILIES)}, got {family!r}")
    s = float_array(scales, "scales").ravel()
    if s.size == 0 or (s <= 0).any() or s.max() > 1e6:
        raise InputError("scales", "must be a non-empty table of scales in (0, 1e6]")
    if isinstance(shifts, bool) or not isinstance(shifts, int) or not 1 <= shifts <= 64:
        raise InputError("shifts", f"must be an integer in 1..64, got {shifts!r}")
    raw = np.ascontiguousarray(s, dtype="<f8").tobytes()
    return _shifted_cached(family, raw, shifts, precision)
