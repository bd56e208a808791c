"""What a relative entropy coder sends: an index (or a search path) and how it is coded.

A :class:`Message` holds the range-coded payload ``data`` and, on the encoder's side,
what the sampler found: the sample (exactly what :func:`decode` regenerates), the
index, the number of steps the encoder simulated and the code length in bits.

Code lengths (``Message.bits``) are **ideal** lengths under the integer code the
message uses (``-log2`` of the model probability, plus raw bits): what a message costs
inside a longer stream. A single message coded alone also pays the range coder's flush
(``len(data) * 8`` is larger by up to 32-64 bits); the benchmarks report both.

:class:`IndexCode` names the code for positive integers ``n >= 1`` that encoder and
decoder share (the decoder never sees the target, so the code may depend only on what
both know, e.g. a KL budget):

- ``IndexCode.zeta(kl_bits)``: Zipf law with exponent ``1 + 1 / (kl_bits + 1)``; the
  right model for A* / PFR / GPRS indices, whose ``log2 n`` concentrates near the KL.
- ``IndexCode.fixed(bits)``: ``n`` in ``1 .. 2**bits`` as ``bits`` raw bits (ordered and
  minimal random coding with ``2**bits`` candidates).
- ``IndexCode.delta()``: Elias delta, when nothing is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..coding import EliasDelta, SymbolDecoder, SymbolEncoder, Zeta
from ..coding.universal import positive_array
from ..errors import CorruptStreamError, InputError

__all__ = ["IndexCode", "Message", "decode_indices", "encode_indices"]

_KINDS = ("zeta", "fixed", "delta")


@dataclass(frozen=True)
class IndexCode:
    """A code for positive integers shared by encoder and decoder.

    ``kind`` is ``"zeta"`` (``parameter`` = Zipf exponent s > 1), ``"fixed"``
    (``parameter`` = bit width b, values 1 .. 2**b) or ``"delta"`` (no parameter).
    """

    kind: str
    parameter: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InputError("kind", f"must be one of {_KINDS}, got {self.kind!r}")
        if self.kind == "fixed" and not (
            float(self.parameter).is_integer() and 0 <= self.parameter <= 63
        ):
            raise InputError("bits", f"fixed-width codes take 0..63 bits, got {self.parameter}")
        if self.kind == "zeta":
            Zeta(self.parameter)  # validates s

    @classmethod
    def zeta(cls, kl_bits: float) -> IndexCode:
        """Zipf code tuned to an index whose target has D_KL(Q||P) = ``kl_bits`` (bits).
        The exponent is rounded to a multiple of 2^-20 so that it has a short, exact
        decimal form to store in a header."""
        if not (math.isfinite(kl_bits) and kl_bits >= 0):
            raise InputError("kl_bits", f"must be a finite number >= 0, got {kl_bits}")
        s = 1.0 + 1.0 / (kl_bits + 1.0)
        return cls("zeta", round(s * 2**20) / 2**20)

    @classmethod
    def fixed(cls, bits: int) -> IndexCode:
        return cls("fixed", float(bits))

    @classmethod
    def delta(cls) -> IndexCode:
        return cls("delta")

    @property
    def limit(self) -> int:
        """Largest codable index."""
        return (1 << int(self.parameter)) if self.kind == "fixed" else (1 << 64) - 1

    def _model(self) -> Any:
        return Zeta(self.parameter) if self.kind == "zeta" else EliasDelta()

    def bits(self, values: Any) -> np.ndarray:
        """Ideal code length of each index (bits, float64)."""
        n = positive_array(values, "index")
        if self.kind == "fixed":
            self._check_fixed(n)
            return np.full(n.size, float(self.parameter))
        return -self._model().log2_probability(n)

    def _check_fixed(self, n: np.ndarray) -> None:
        if n.size and int(n.max()) > self.limit:
            raise InputError(
                "index", f"exceeds the {int(self.parameter)}-bit code's limit {self.limit}"
            )

    def encode_into(self, encoder: SymbolEncoder, values: Any) -> None:
        n = positive_array(values, "index")
        if self.kind == "fixed":
            self._check_fixed(n)
            encoder.encode_uniform_bits(n - np.uint64(1), np.full(n.size, int(self.parameter)))
        else:
            self._model().encode_into(encoder, n)

    def decode_from(self, decoder: SymbolDecoder, count: int) -> np.ndarray:
        if self.kind == "fixed":
            return decoder.decode_uniform_bits(np.full(count, int(self.parameter))) + np.uint64(1)
        return self._model().decode_from(decoder, count)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "parameter": self.parameter}


@dataclass(frozen=True, eq=False)
class Message:
    """A relative-entropy-coded sample.

    ``data``: the coded payload (bytes). ``sampler``: which sampler made it. ``code``:
    the index code. ``bits``: ideal code length in bits. Encoder-side extras (not part
    of the payload): ``index`` (the sent integer, or the heap index of a search path),
    ``steps`` (candidates or tree nodes the encoder simulated) and ``sample`` (float64,
    shape (dim,): bit for bit what :func:`decode` returns).
    """

    sampler: str
    code: IndexCode
    data: bytes
    bits: float
    index: int = 0
    steps: int = 0
    sample: np.ndarray = field(default_factory=lambda: np.zeros(0))


def encode_indices(code: IndexCode, indices: Any) -> tuple[bytes, float]:
    """Indices (>= 1) to a payload of their own; returns (data, ideal bits)."""
    encoder = SymbolEncoder()
    code.encode_into(encoder, indices)
    return encoder.to_bytes(), float(code.bits(indices).sum())


def decode_indices(code: IndexCode, data: bytes, count: int) -> np.ndarray:
    """Inverse of :func:`encode_indices` (uint64 array)."""
    try:
        decoder = SymbolDecoder(data)
        indices = code.decode_from(decoder, count)
        decoder.finish("REC index stream")
        return indices
    except CorruptStreamError:
        raise
    except Exception as exc:  # constriction raises its own types on garbage
        raise CorruptStreamError(f"cannot decode REC indices: {exc}") from None
