"""Entropy coding: integer arrays in, bytes out, on constriction's range coder.

Main entry points:

- :func:`encode_values` / :func:`decode_values` with :class:`FrequencyTables`
  (categorical tables, learned CDFs, or :func:`location_scale_tables` for indexed
  Gaussian / Laplace / logistic scales); escapes make any int64 round-trip;
- :class:`LocationScaleCoder`: the conditional coder learned codecs need (latent
  residuals with a scale index per element), the analogue of a Gaussian conditional;
- :func:`encode_categorical` / :func:`decode_categorical` for one table or a table per
  symbol;
- universal codes for positive integers: :class:`EliasGamma`, :class:`EliasDelta`,
  :class:`Zeta` (range-coded) and the bit-packed :func:`pack_elias_gamma` and
  :func:`pack_elias_delta`.
"""

from .conditional import LocationScaleCoder
from .quantize import PRECISION, quantize_probabilities
from .stream import (
    SymbolDecoder,
    SymbolEncoder,
    decode_categorical,
    decode_values,
    encode_categorical,
    encode_values,
)
from .tables import (
    FAMILIES,
    FrequencyTables,
    location_scale_probabilities,
    location_scale_tables,
    log_scale_table,
)
from .universal import (
    EliasDelta,
    EliasGamma,
    PositiveIntegerModel,
    Zeta,
    pack_elias_delta,
    pack_elias_gamma,
    unpack_elias_delta,
    unpack_elias_gamma,
)

__all__ = [
    "FAMILIES",
    "PRECISION",
    "EliasDelta",
    "EliasGamma",
    "FrequencyTables",
    "LocationScaleCoder",
    "PositiveIntegerModel",
    "SymbolDecoder",
    "SymbolEncoder",
    "Zeta",
    "decode_categorical",
    "decode_values",
    "encode_categorical",
    "encode_values",
    "location_scale_probabilities",
    "location_scale_tables",
    "log_scale_table",
    "pack_elias_delta",
    "pack_elias_gamma",
    "quantize_probabilities",
    "unpack_elias_delta",
    "unpack_elias_gamma",
]
