"""The indexed location-scale coder that learned codecs use for their latents.

A hyperprior codec predicts, per latent element, a mean ``mu`` and a scale ``sigma``.
The element is quantized to the integer residual ``q = round(y - mu)`` and coded with
the table of a *scale index*: the position of ``sigma`` in a fixed, log-spaced table of
scales. Grouping elements by index and coding each group with one integer table keeps
Python out of the per-symbol loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import float_array, integer_array, same_shape
from ..errors import InputError
from .quantize import PRECISION
from .stream import SymbolDecoder, SymbolEncoder, check_stream_room
from .tables import (
    FrequencyTables,
    location_scale_probabilities,
    location_scale_tables,
    log_scale_table,
)


class LocationScaleCoder:
    """Codes integer residuals with an indexed table of a location-scale family.

    Args:
        family: ``"gaussian"``, ``"laplace"`` or ``"logistic"``.
        scales: the scale table (increasing, > 0); default 64 log-spaced scales from 0.11
            to 256, the range learned image codecs use.
        precision: bits of the integer tables (<= 24).
    """

    def __init__(
        self,
        family: str = "gaussian",
        scales: Any = None,
        precision: int = PRECISION,
    ) -> None:
        scale_table = log_scale_table() if scales is None else float_array(scales, "scales").ravel()
        if scale_table.size > 1 and (np.diff(scale_table) <= 0).any():
            raise InputError("scales", "must be strictly increasing")
        self.tables: FrequencyTables = location_scale_tables(family, scale_table, precision)
        self.family = family.lower()
        self.scales = scale_table
        self._masses: dict[int, np.ndarray] = {}

    # -- mapping continuous parameters to table entries --------------------------
    def scale_indexes(self, scales: Any) -> np.ndarray:
        """Index of the smallest table scale >= each scale (clamped to the table), int64.

        Rounding the scale up costs less rate than rounding it down when the
        prediction is uncertain.
        """
        s = float_array(scales, "scales")
        if s.size and (s <= 0).any():
            raise InputError("scales", "must be > 0")
        idx = np.searchsorted(self.scales, s, side="left")
        return np.minimum(idx, self.scales.size - 1).astype(np.int64)

    @staticmethod
    def _rounded_residual(y: np.ndarray, means: np.ndarray | None) -> tuple[np.ndarray, float]:
        """``rint(y - means)`` as float64 and its largest magnitude; refuses NaN, inf and
        magnitudes of 2**62 or more (naming the argument at fault)."""
        residual = y if means is None else y - means
        # one reduction checks finiteness (NaN and inf propagate) and range together
        largest = float(np.abs(residual).max()) if residual.size else 0.0
        if not largest < 2.0**62:
            float_array(y, "y")
            if means is not None:
                float_array(means, "means")
            raise InputError("y", "holds values too large to quantize to int64")
        return np.rint(residual, out=None if residual is y else residual), largest

    @staticmethod
    def _latent_arrays(y: Any, means: Any) -> tuple[np.ndarray, np.ndarray | None]:
        yy = float_array(y, "y", finite=False)
        if means is None:
            return yy, None
        mu = float_array(means, "means", finite=False)
        same_shape(yy, "y", mu, "means")
        return yy, mu

    @classmethod
    def quantize(cls, y: Any, means: Any = None) -> np.ndarray:
        """Integer residuals ``rint(y - means)`` (round half to even), int64."""
        return cls._rounded_residual(*cls._latent_arrays(y, means))[0].astype(np.int64)

    def encode_latents(self, y: Any, indexes: Any, means: Any = None) -> bytes:
        """``encode(quantize(y, means), indexes)``, with the quantization done part by part
        inside the coder's grouping threads (the same bytes, less time)."""
        yy, mu = self._latent_arrays(y, means)
        idx = integer_array(indexes, "indexes", narrow=True)
        same_shape(yy, "y", idx, "indexes")
        flat_y, flat_mu = yy.reshape(-1), None if mu is None else mu.reshape(-1)

        def values(start: int, stop: int) -> np.ndarray:
            part_mu = None if flat_mu is None else flat_mu[start:stop]
            rounded, largest = self._rounded_residual(flat_y[start:stop], part_mu)
            return rounded.astype(np.int32 if largest < 2.0**31 - 1 else np.int64)

        encoder = SymbolEncoder()
        encoder.encode_values_of_parts(values, idx, self.tables)
        return encoder.to_bytes()

    def decode_latents(self, data: bytes, indexes: Any, means: Any = None) -> np.ndarray:
        """Inverse of :meth:`encode_latents`: the reconstruction ``y_hat`` (float64)."""
        return self.dequantize(self.decode(data, indexes), means)

    @staticmethod
    def dequantize(symbols: Any, means: Any = None) -> np.ndarray:
        """``symbols + means`` as float64 (the reconstruction ``y_hat``)."""
        q = integer_array(symbols, "symbols").astype(np.float64)
        if means is None:
            return q
        mu = float_array(means, "means")
        same_shape(q, "symbols", mu, "means")
        return q + mu

    # -- coding ----------------------------------------------------------------
    def encode(self, symbols: Any, indexes: Any) -> bytes:
        """Integer residuals with their scale indexes (same shapes) to bytes."""
        q = integer_array(symbols, "symbols", narrow=True)
        idx = integer_array(indexes, "indexes", narrow=True)
        same_shape(q, "symbols", idx, "indexes")
        encoder = SymbolEncoder()
        encoder.encode_values(q, idx, self.tables)
        return encoder.to_bytes()

    def decode(self, data: bytes, indexes: Any, what: str = "residual stream") -> np.ndarray:
        """Inverse of :meth:`encode`: int64 residuals shaped like ``indexes``.

        Raises:
            CorruptStreamError: ``data`` is not such a stream; its subclass
                :class:`~rdlab.errors.StreamEndError` (naming ``what``) when the stream
                does not end with the last residual, and
                :class:`~rdlab.errors.LengthError` when ``indexes`` declare more residuals
                than ``data`` can hold (checked before decoding).
        """
        idx = integer_array(indexes, "indexes", narrow=True)
        if idx.size and idx.min() >= 0 and idx.max() < len(self.tables):  # else decode refuses
            counts = np.bincount(idx.reshape(-1), minlength=len(self.tables))
            least = float(counts @ self.tables.least_bits())
            check_stream_room(len(data), least, f"{what}: {idx.size} residuals")
        decoder = SymbolDecoder(data)
        values = decoder.decode_values(idx, self.tables)
        decoder.finish(what)
        return values

    # -- rates -------------------------------------------------------------------
    def ideal_bits(self, symbols: Any, indexes: Any) -> float:
        """Information content in bits under the continuous model's bin masses.

        ``-sum log2 P(q)`` where ``P`` is the family's mass of the bin ``[q - 0.5, q + 0.5)``
        at the table scale (escaped residuals count the mass of both tails together).
        """
        q = integer_array(symbols, "symbols").ravel()
        idx = integer_array(indexes, "indexes").ravel()
        same_shape(q, "symbols", idx, "indexes")
        total = 0.0
        for i in np.unique(idx):
            masses = self._bin_masses(int(i))
            half = (masses.size - 2) // 2
            sel = q[idx == i] + half
            sel = np.where((sel >= 0) & (sel <= 2 * half), sel, masses.size - 1)
            total += float(-np.log2(masses[sel]).sum())
        return total

    def _bin_masses(self, index: int) -> np.ndarray:
        if index not in self._masses:
            self._masses[index] = location_scale_probabilities(
                self.family, float(self.scales[index])
            )[1]
        return self._masses[index]
