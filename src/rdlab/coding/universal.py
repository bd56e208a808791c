"""Universal codes for unbounded positive integers.

Two forms:

- **Range-coded models** (:class:`EliasGamma`, :class:`EliasDelta`, :class:`Zeta`): each
  defines a probability distribution over ``n = 1 .. 2**64 - 1`` and codes with the
  range coder, so they mix with other sections of a stream (relative entropy coding
  sends its indices this way). ``n`` is split into its bit-length class
  ``L = floor(log2 n)`` and the ``L`` bits below the leading one. Elias gamma puts
  ``2**-(L+1)`` on class ``L`` and delta ``2**-(2*floor(log2(L+1))+1)``, both uniform
  inside the class, so their ideal lengths are the classic ``2L + 1`` and
  ``L + 2*floor(log2(L+1)) + 1`` bits. The zeta (Zipf) model ``P(n) = n**-s / zeta(s)``
  (truncated to ``n < 2**64``) codes the class, then the top ``min(L, 8)`` bits below the
  leading one with exact Zipf masses, then the rest uniformly (the within-bin density
  varies by a factor of at most ``(1 + 2**-8)**s`` there).
  All tables come from :mod:`rdlab.detmath` and :func:`quantize_probabilities`, so they
  are identical on every machine.
- **Bit-packed prefix codes** (:func:`pack_elias_gamma`, :func:`pack_elias_delta` and
  their inverses): the textbook codewords, MSB first, for headers and interchange.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from .. import detmath
from ..errors import CorruptStreamError, InputError
from .quantize import PRECISION
from .stream import SymbolDecoder, SymbolEncoder, bit_length
from .tables import FrequencyTables

_CLASSES = 64  # n < 2**64: bit-length classes L = 0..63
_SUB_BITS = 8


def positive_array(values: Any, name: str = "values") -> np.ndarray:
    """Positive integers as uint64; zero, negatives and non-integers are refused."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    v = np.asarray(values)
    if v.dtype == object:  # Python ints beyond int64
        try:
            v = v.astype(np.uint64)
        except (OverflowError, TypeError, ValueError):
            raise InputError(name, "must hold integers in [1, 2**64 - 1]") from None
    if v.dtype.kind not in "iu":
        raise InputError(name, f"must be an integer array, got dtype {v.dtype}")
    if v.size and (v.min() < 1 if v.dtype.kind == "i" else (v == 0).any()):
        raise InputError(name, "must be >= 1 (positive integers)")
    return v.astype(np.uint64).ravel()


class PositiveIntegerModel:
    """Base class: a distribution over ``1 .. 2**64 - 1`` coded with the range coder."""

    name = "positive"

    def class_tables(self) -> FrequencyTables:
        """Integer table over the 64 bit-length classes."""
        raise NotImplementedError

    def sub_tables(self) -> FrequencyTables | None:
        """Tables for the top bits inside classes 1..63 (None: uniform inside classes)."""
        return None

    def log2_probability(self, values: Any) -> np.ndarray:
        """log2 P(n) of the ideal (unquantized) model, float64, per value (bits, <= 0)."""
        raise NotImplementedError

    def ideal_bits(self, values: Any) -> float:
        """Information content of ``values`` in bits under the ideal model."""
        return float(-self.log2_probability(positive_array(values)).sum())

    # -- coding ---------------------------------------------------------------
    def encode_into(self, encoder: SymbolEncoder, values: Any) -> None:
        """Append ``values`` (positive integers) to an open stream."""
        n = positive_array(values)
        classes = bit_length(n) - 1
        encoder.encode_values(classes, np.zeros(n.size, np.int64), self.class_tables())
        low_bits = classes.copy()
        sub = self.sub_tables()
        with np.errstate(over="ignore"):
            if sub is not None:
                h = np.minimum(classes, _SUB_BITS)
                has = h > 0
                shift = (classes[has] - h[has]).astype(np.uint64)
                top = (n[has] >> shift) & (
                    (np.uint64(1) << h[has].astype(np.uint64)) - np.uint64(1)
                )
                encoder.encode_values(top.astype(np.int64), classes[has] - 1, sub)
                low_bits = classes - h
            mask = (np.uint64(1) << low_bits.astype(np.uint64)) - np.uint64(1)
        encoder.encode_uniform_bits(n & mask, low_bits)

    def decode_from(self, decoder: SymbolDecoder, count: int) -> np.ndarray:
        """Read ``count`` values (uint64) from an open stream."""
        classes = decoder.decode_values(np.zeros(count, np.int64), self.class_tables())
        if (classes < 0).any() or (classes >= _CLASSES).any():
            raise CorruptStreamError("bit-length class out of range")
        n = np.uint64(1) << classes.astype(np.uint64)
        low_bits = classes.copy()
        sub = self.sub_tables()
        if sub is not None:
            h = np.minimum(classes, _SUB_BITS)
            has = h > 0
            top = decoder.decode_values(classes[has] - 1, sub)
            if (top < 0).any() or (top >= (np.int64(1) << h[has])).any():
                raise CorruptStreamError("zeta sub-bin out of range")
            n[has] |= top.astype(np.uint64) << (classes[has] - h[has]).astype(np.uint64)
            low_bits = classes - h
        return n | decoder.decode_uniform_bits(low_bits)

    def encode(self, values: Any) -> bytes:
        """Positive integers to a stream of their own."""
        encoder = SymbolEncoder()
        self.encode_into(encoder, values)
        return encoder.to_bytes()

    def decode(self, data: bytes, count: int) -> np.ndarray:
        """Inverse of :meth:`encode` (uint64, ``count`` values); the stream must end with
        the last value (:meth:`SymbolDecoder.finish`)."""
        if count < 0:
            raise InputError("count", "must be >= 0")
        decoder = SymbolDecoder(data)
        values = self.decode_from(decoder, count)
        decoder.finish()
        return values


def normalized(masses: np.ndarray) -> np.ndarray:
    """``masses / sum(masses)`` with an exactly rounded sum (``math.fsum``), so the result
    is the same on every machine whatever the summation order of NumPy's reductions."""
    return masses / math.fsum(masses.tolist())


def _class_table(masses: np.ndarray) -> FrequencyTables:
    # no escape: every class 0..63 has its own symbol; classes are checked on the way in
    return FrequencyTables.from_probabilities(
        normalized(masses), escape=False, precision=PRECISION, tolerance=1e-9
    )


@lru_cache(maxsize=1)
def _gamma_classes() -> FrequencyTables:
    levels = np.arange(_CLASSES, dtype=np.float64)
    return _class_table(np.ldexp(1.0, -(levels + 1).astype(np.int64)))


def _delta_class_lengths() -> np.ndarray:
    levels = np.arange(_CLASSES)
    return 2 * (bit_length((levels + 1).astype(np.uint64)) - 1) + 1  # 2*floor(log2(L+1)) + 1


@lru_cache(maxsize=1)
def _delta_classes() -> FrequencyTables:
    return _class_table(np.ldexp(1.0, -_delta_class_lengths()))


class _PrefixCodeModel(PositiveIntegerModel):
    """A prefix code's implied distribution ``2**-length(n)``, normalized over n < 2**64."""

    def codeword_bits(self, values: Any) -> np.ndarray:
        """Length in bits of each value's textbook codeword (int64)."""
        raise NotImplementedError

    def log2_probability(self, values: Any) -> np.ndarray:
        lengths = self.codeword_bits(values).astype(np.float64)
        levels = np.arange(_CLASSES)
        class_lengths = self.codeword_bits(np.ldexp(1.0, levels).astype(np.uint64)) - levels
        normalizer = float(np.sum(np.ldexp(1.0, -class_lengths)))  # class L holds 2**L values
        return -lengths - np.log2(normalizer)


class EliasGamma(_PrefixCodeModel):
    """Elias gamma as a range-coded model: ``2*floor(log2 n) + 1`` bits ideally."""

    name = "elias-gamma"

    def class_tables(self) -> FrequencyTables:
        return _gamma_classes()

    def codeword_bits(self, values: Any) -> np.ndarray:
        return 2 * (bit_length(positive_array(values)) - 1) + 1


class EliasDelta(_PrefixCodeModel):
    """Elias delta as a range-coded model: ``L + 2*floor(log2(L+1)) + 1`` bits ideally.

    Over ``n < 2**64`` the codeword lengths leave about 1.6 % of the Kraft sum unused;
    the range-coded model is normalized, so it codes about 0.023 bit per value shorter.
    """

    name = "elias-delta"

    def class_tables(self) -> FrequencyTables:
        return _delta_classes()

    def codeword_bits(self, values: Any) -> np.ndarray:
        levels = bit_length(positive_array(values)) - 1
        return levels + _delta_class_lengths()[levels]


@lru_cache(maxsize=256)
def _zeta_tables(s: float) -> tuple[FrequencyTables, FrequencyTables, float]:
    levels = np.arange(_CLASSES)
    lo = np.ldexp(1.0, levels)
    hi = np.ldexp(1.0, levels + 1)
    class_mass = np.asarray(detmath.zeta_partial_sum(s, lo, hi), dtype=np.float64)
    total = math.fsum(class_mass.tolist())
    sub = []
    for level in range(1, _CLASSES):
        h = min(level, _SUB_BITS)
        j = np.arange(1 << h, dtype=np.float64)
        width = np.ldexp(1.0, level - h)
        start = np.ldexp(1.0, level) + j * width
        mass = np.asarray(detmath.zeta_partial_sum(s, start, start + width), dtype=np.float64)
        sub.append(normalized(mass))
    sub_tables = FrequencyTables.from_probabilities(sub, escape=False, tolerance=1e-9)
    return _class_table(class_mass), sub_tables, total


class Zeta(PositiveIntegerModel):
    """Zipf law ``P(n) = n**-s / Z`` on ``1 .. 2**64 - 1`` (``s > 1``), range-coded.

    For relative entropy coding, ``s = 1 + 1 / (KL + 1)`` (KL in bits) makes the expected
    code length of an A* / PFR index about ``KL + log2(KL + 1) + O(1)`` bits.
    """

    name = "zeta"

    def __init__(self, s: float) -> None:
        s = float(s)
        if not np.isfinite(s) or s <= 1.0:
            raise InputError("s", f"the zeta exponent must be a finite number > 1, got {s}")
        if s > 64.0:
            raise InputError("s", f"exponents above 64 leave nothing to code beyond n = 1, got {s}")
        self.s = s

    @classmethod
    def for_kl(cls, kl_bits: float) -> Zeta:
        """The zeta model for an A*/PFR index when ``D_KL(Q||P) = kl_bits`` (bits)."""
        if not np.isfinite(kl_bits) or kl_bits < 0:
            raise InputError("kl_bits", f"must be a finite number >= 0, got {kl_bits}")
        return cls(1.0 + 1.0 / (kl_bits + 1.0))

    def class_tables(self) -> FrequencyTables:
        return _zeta_tables(self.s)[0]

    def sub_tables(self) -> FrequencyTables:
        return _zeta_tables(self.s)[1]

    def log2_probability(self, values: Any) -> np.ndarray:
        n = positive_array(values).astype(np.float64)
        return -self.s * np.log2(n) - np.log2(_zeta_tables(self.s)[2])


# --------------------------------------------------------------- bit-packed codes
def _pack_fields(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Concatenate fields (``values[k]`` in ``widths[k]`` <= 64 bits, MSB first), zero-padded."""
    widths = widths.astype(np.int64)
    total = int(widths.sum())
    if total == 0:
        return b""
    field = np.repeat(np.arange(widths.size), widths)
    start = np.repeat(np.cumsum(widths) - widths, widths)
    position = np.arange(total) - start
    shift = (widths[field] - 1 - position).astype(np.uint64)
    bits = ((values[field] >> shift) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits).tobytes()


def _read_fields(bits: np.ndarray, starts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Read fields of ``widths`` (<= 64) bits at ``starts`` from a bit array (uint64)."""
    out = np.zeros(starts.size, dtype=np.uint64)
    for b in range(int(widths.max(initial=0))):
        active = widths > b
        out[active] = (out[active] << np.uint64(1)) | bits[starts[active] + b].astype(np.uint64)
    return out


def _codeword_starts(bits: np.ndarray, count: int, step: Any) -> np.ndarray:
    """Start of each of ``count`` consecutive codewords, by pointer doubling.

    ``step(positions)`` gives the start of the next codeword for a codeword starting at
    each position (or ``bits.size + 1`` where the data cannot hold one).
    """
    size = bits.size
    nxt = np.minimum(step(np.arange(size + 2)), size + 1).astype(np.int64)
    nxt[size:] = size + 1
    jumps = [nxt]
    while (1 << len(jumps)) < count:
        jumps.append(jumps[-1][jumps[-1]])
    k = np.arange(count)
    pos = np.zeros(count, dtype=np.int64)
    for level, jump in enumerate(jumps):
        sel = ((k >> level) & 1).astype(bool)
        pos[sel] = jump[pos[sel]]
    if count and pos[-1] >= size:
        raise CorruptStreamError(f"bit stream ends before codeword {count}")
    return pos


def _next_one(bits: np.ndarray) -> np.ndarray:
    """For each position p (and two beyond the end): the first q >= p with bits[q] == 1."""
    size = bits.size
    idx = np.where(np.append(bits, [1, 1]) == 1, np.arange(size + 2), size + 2)
    return np.minimum.accumulate(idx[::-1])[::-1]


def pack_elias_gamma(values: Any) -> bytes:
    """Elias gamma codewords of positive integers, MSB first, zero-padded to a byte."""
    n = positive_array(values)
    levels = bit_length(n) - 1
    vals = np.stack([np.zeros_like(n), n], axis=1).ravel()
    widths = np.stack([levels, levels + 1], axis=1).ravel()
    return _pack_fields(vals, widths)


def unpack_elias_gamma(data: bytes, count: int) -> np.ndarray:
    """Inverse of :func:`pack_elias_gamma`: the first ``count`` values (uint64)."""
    bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
    one = _next_one(bits)

    def step(p: np.ndarray) -> np.ndarray:
        return 2 * one[p] - p + 1

    starts = _codeword_starts(bits, count, step)
    levels = one[starts] - starts
    if (levels > 63).any() or (starts + 2 * levels + 1 > bits.size).any():
        raise CorruptStreamError("Elias gamma codeword is too long or truncated")
    return _read_fields(bits, one[starts], levels + 1)


def pack_elias_delta(values: Any) -> bytes:
    """Elias delta codewords of positive integers, MSB first, zero-padded to a byte."""
    n = positive_array(values)
    levels = bit_length(n) - 1
    head = (levels + 1).astype(np.uint64)
    m = bit_length(head) - 1
    with np.errstate(over="ignore"):
        tail = n & ((np.uint64(1) << levels.astype(np.uint64)) - np.uint64(1))
    vals = np.stack([np.zeros_like(n), head, tail], axis=1).ravel()
    widths = np.stack([m, m + 1, levels], axis=1).ravel()
    return _pack_fields(vals, widths)


def unpack_elias_delta(data: bytes, count: int) -> np.ndarray:
    """Inverse of :func:`pack_elias_delta`: the first ``count`` values (uint64)."""
    bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
    size = bits.size
    one = _next_one(bits)
    padded = np.append(bits, np.zeros(80, dtype=np.uint8))

    def head_value(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = one[np.minimum(p, size + 1)] - p
        ok = (m <= 6) & (p < size)
        head = _read_fields(
            padded, np.where(ok, one[np.minimum(p, size + 1)], 0), np.where(ok, m + 1, 0)
        ).astype(np.int64)
        return m, np.where(ok, head, 10**6)

    def step(p: np.ndarray) -> np.ndarray:
        m, head = head_value(p)
        return p + 2 * m + 1 + head - 1

    starts = _codeword_starts(bits, count, step)
    m, head = head_value(starts)
    levels = head - 1
    if (levels > 63).any() or (levels < 0).any() or (starts + 2 * m + 1 + levels > size).any():
        raise CorruptStreamError("Elias delta codeword is too long or truncated")
    tail = _read_fields(bits, starts + 2 * m + 1, levels)
    return (np.uint64(1) << levels.astype(np.uint64)) | tail
