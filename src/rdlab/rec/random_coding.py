"""Ordered and minimal random coding: send one of ``N = 2**k`` shared candidates.

Both samplers draw the same kind of candidates ``X_1 .. X_N ~ P`` (the proposal) from a
shared random stream and send the index of one of them; the decoder regenerates that
one candidate. Both are **approximate** samplers of the target Q: the sent sample's law
approaches Q as ``log2 N`` grows beyond ``D_KL(Q || P)`` (in bits); they never refuse a
target, even one whose density ratio ``dQ/dP`` is unbounded.

- **Ordered random coding** (ORC; Theis & Yosri 2022, "Algorithms for the communication
  of samples", i.e. A* coding limited to ``N`` candidates): the candidates carry the
  ordered arrival times ``T_1 < ... < T_N`` of a rate-1 Poisson process (cumulative sums
  of Exp(1) variates); the encoder sends ``argmax_k log r(X_k) - log T_k``. The index is
  skewed towards small ``k`` (``log2 k`` concentrates near the KL), so
  ``IndexCode.zeta(kl)`` codes it in fewer bits than the fixed ``k``-bit code.
- **Minimal random coding** (MRC; Havasi, Peharz & Hernandez-Lobato 2019): the same
  candidates with i.i.d. Gumbels ``-log E_k``, ``E_k ~ Exp(1)``: the sent index is drawn
  with probability proportional to ``r(X_k)`` (self-normalized importance sampling). Its
  index is nearly uniform on ``1 .. N``: the fixed code is the right one.

``r = dQ/dP``; log ratios are in nats, KL and code lengths in bits.

Streams (:mod:`rdlab.rec.streams`): ``"rec/orc"`` and ``"rec/mrc"``, Philox block
``block``; candidate ``n`` (1-based) is row ``n - 1`` of the open uniform rows of width
``1 + dim``: word 0 gives its arrival-time increment ``-log u`` (ORC) or its Gumbel
``-log(-log u)`` (MRC), words ``1 ..`` its coordinates through ``proposal.from_uniforms``
(bit-reproducible), so ``Message.sample`` is bit for bit what the decoder returns.

Default number of candidates: ``log2_candidates = ceil(KL_bits + 2)`` (at least 2, at
most :data:`MAX_LOG2_CANDIDATES`; more is refused: the encoder evaluates every candidate).
If ``code`` is a fixed-width code and ``log2_candidates`` is not given, the code's width is
used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from .distributions import kl_bits, log_ratio
from .messages import IndexCode, Message, decode_indices, encode_indices
from .streams import candidate_rows

__all__ = [
    "MAX_LOG2_CANDIDATES",
    "decode_minimal",
    "decode_ordered",
    "default_log2_candidates",
    "encode_minimal",
    "encode_ordered",
]

MAX_LOG2_CANDIDATES = 30
_CHUNK_WORDS = 1 << 20  # Philox words per vectorized chunk (8 MiB of float64)
_STREAMS = {"orc": "rec/orc", "mrc": "rec/mrc"}


def default_log2_candidates(kl: float) -> int:
    """``ceil(kl + 2)`` for a KL of ``kl`` bits: the default ``log2 N``."""
    if not (math.isfinite(kl) and kl >= 0):
        raise InputError("target", f"needs a finite KL to choose the candidate count, got {kl}")
    return max(2, math.ceil(kl + 2.0))


def _resolve(
    target: Any, proposal: Any, code: IndexCode | None, log2_candidates: int | None
) -> tuple[int, IndexCode, float]:
    """(log2 N, index code, KL bits or nan) after validation."""
    if getattr(target, "dim", None) != getattr(proposal, "dim", None):
        raise InputError(
            "target",
            f"has {getattr(target, 'dim', None)} dimensions, "
            f"the proposal {getattr(proposal, 'dim', None)}",
        )
    if code is not None and not isinstance(code, IndexCode):
        raise InputError("code", f"must be an IndexCode, got {type(code).__name__}")
    kl = math.nan
    if log2_candidates is None:
        if code is not None and code.kind == "fixed":
            log2_candidates = int(code.parameter)
        else:
            kl = kl_bits(target, proposal)
            log2_candidates = default_log2_candidates(kl)
    if isinstance(log2_candidates, bool) or not isinstance(log2_candidates, (int, np.integer)):
        raise InputError("log2_candidates", f"must be an integer, got {log2_candidates!r}")
    k = int(log2_candidates)
    if not 0 <= k <= MAX_LOG2_CANDIDATES:
        raise InputError(
            "log2_candidates", f"must lie in 0..{MAX_LOG2_CANDIDATES}, got {k} (too many to scan)"
        )
    if code is None:
        code = IndexCode.fixed(k)
    elif code.kind == "fixed" and int(code.parameter) < k:
        raise InputError("code", f"has {int(code.parameter)} bits for 2^{k} candidates")
    return k, code, kl


def _select(target: Any, proposal: Any, seed: int, block: int, kind: str, count: int) -> int:
    """0-based row of the winning candidate among ``count`` (chunked, vectorized)."""
    stream = _STREAMS[kind]
    chunk = max(1, _CHUNK_WORDS // (1 + int(proposal.dim)))
    best_score, best_row = -math.inf, 0
    elapsed = 0.0  # ORC: arrival time of the last candidate of the previous chunk
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        u0, x = candidate_rows(proposal, seed, stream, block, start, n)
        if kind == "orc":
            # the times only steer the encoder's choice: NumPy's log suffices here
            times = elapsed + np.cumsum(-np.log(u0))
            elapsed = float(times[-1])
            noise = -np.log(times)
        else:
            noise = -np.log(-np.log(u0))
        score = log_ratio(target, proposal, x) + noise
        row = int(np.argmax(score))
        if score[row] > best_score:  # first maximum wins (also when all are -inf)
            best_score, best_row = float(score[row]), start + row
    return best_row


def _regenerate(proposal: Any, seed: int, block: int, kind: str, index: int) -> np.ndarray:
    """Candidate ``index`` (1-based) as a float64 vector of shape (dim,)."""
    x = candidate_rows(proposal, seed, _STREAMS[kind], block, index - 1, 1)[1]
    return np.asarray(x[0], dtype=np.float64)


def _encode(
    kind: str,
    target: Any,
    proposal: Any,
    seed: int,
    block: int,
    code: IndexCode | None,
    log2_candidates: int | None,
) -> Message:
    k, code, _ = _resolve(target, proposal, code, log2_candidates)
    count = 1 << k
    index = _select(target, proposal, seed, block, kind, count) + 1
    data, bits = encode_indices(code, np.array([index], dtype=np.uint64))
    sample = _regenerate(proposal, seed, block, kind, index)
    return Message(kind, code, data, bits, index=index, steps=count, sample=sample)


def _decode(kind: str, message: Message, proposal: Any, seed: int, block: int) -> np.ndarray:
    if not isinstance(message, Message):
        raise InputError("message", f"must be a Message, got {type(message).__name__}")
    if message.sampler != kind:
        raise InputError("message", f"was made by {message.sampler!r}, not {kind!r}")
    index = int(decode_indices(message.code, message.data, 1)[0])
    return _regenerate(proposal, seed, block, kind, index)


def encode_ordered(
    target: Any,
    proposal: Any,
    seed: int,
    *,
    block: int = 0,
    code: IndexCode | None = None,
    log2_candidates: int | None = None,
) -> Message:
    """Ordered random coding of one sample of ``target`` with ``2**log2_candidates``
    candidates from ``proposal`` (stream ``"rec/orc"``, Philox block ``block``).

    Returns a :class:`Message` (``sampler="orc"``): ``index`` in ``1 .. N``, ``steps = N``,
    ``bits`` the ideal code length (bits) under ``code`` (default
    ``IndexCode.fixed(log2_candidates)``), ``sample`` float64 of shape (dim,).
    """
    return _encode("orc", target, proposal, seed, block, code, log2_candidates)


def decode_ordered(message: Message, proposal: Any, seed: int, *, block: int = 0) -> np.ndarray:
    """The sample of an :func:`encode_ordered` message: float64, shape (dim,)."""
    return _decode("orc", message, proposal, seed, block)


def encode_minimal(
    target: Any,
    proposal: Any,
    seed: int,
    *,
    block: int = 0,
    code: IndexCode | None = None,
    log2_candidates: int | None = None,
) -> Message:
    """Minimal random coding of one sample of ``target`` with ``2**log2_candidates``
    candidates from ``proposal`` (stream ``"rec/mrc"``, Philox block ``block``).

    Returns a :class:`Message` (``sampler="mrc"``), fields as in :func:`encode_ordered`.
    """
    return _encode("mrc", target, proposal, seed, block, code, log2_candidates)


def decode_minimal(message: Message, proposal: Any, seed: int, *, block: int = 0) -> np.ndarray:
    """The sample of an :func:`encode_minimal` message: float64, shape (dim,)."""
    return _decode("mrc", message, proposal, seed, block)
