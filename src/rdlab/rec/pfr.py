"""Poisson functional representation (PFR) / global A* coding.

Li & El Gamal (2018), "Strong functional representation lemma and applications to
coding theorems"; Flamich, Markou & Hernández-Lobato (2022), "Fast relative entropy
coding with A* coding".

Encoder and decoder share candidates ``X_1, X_2, ...`` drawn i.i.d. from the proposal
P and arrival times ``T_1 < T_2 < ...`` of a unit-rate Poisson process (cumulative sums
of Exp(1) variates), all read from stream ``"rec/pfr"`` of :mod:`rdlab.rng`
(:func:`rdlab.rec.streams.candidate_rows`: candidate ``n`` is row ``n - 1``; its word 0
gives the Exp(1) increment ``-log u0``, words 1.. its coordinates). The encoder sends

    N = argmin_k T_k / r(X_k),        r = dQ/dP,

whose candidate ``X_N`` is an exact sample of the target Q. Since ``r <= r_max``,
candidate ``k`` cannot win once ``T_k / r_max`` exceeds the best value found so far, so
the search stops there. The number of candidates the encoder must examine has mean
exactly ``r_max = 2**D_inf`` (D_inf = Rényi infinity divergence, bits), and
``E[log2 N] <= D_KL + log2(D_KL + 1) + O(1)`` (bits), which the Zipf index code
(:meth:`IndexCode.zeta`) turns into about ``D_KL + log2(D_KL + 1) + O(1)`` bits.

The decoder reads ``N`` and regenerates candidate ``N`` alone (random access into the
stream; it never replays candidates ``1 .. N - 1``). It must know the index code the
encoder used: :attr:`Message.code` carries it here, but a real decoder rebuilds it from
what both sides know (e.g. the KL budget in bits for :meth:`IndexCode.zeta`).

Supported pairs (target Q, proposal P): diagonal :class:`Gaussian` pairs in any
dimension with the target no wider than the proposal in every dimension (a bounded
ratio), and :class:`Triangular` or :class:`Uniform` targets inside a :class:`Uniform`
proposal. Units: divergences in bits, log ratios in nats; samples are float64 arrays of
shape ``(dim,)``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import rng
from ..errors import InputError, StepLimitError
from .distributions import (
    Gaussian,
    Triangular,
    Uniform,
    kl_bits,
    log_ratio,
    log_ratio_max,
    supported_pair,
)
from .messages import IndexCode, Message, decode_indices, encode_indices
from .streams import candidate_rows, stream_id

__all__ = ["STREAM", "check_pair", "decode", "encode", "search"]

STREAM = "rec/pfr"
_FIRST_CHUNK_MIN = 64
_CHUNK_MAX = 1 << 16
_LOG2E = 1.0 / math.log(2.0)


# ---------------------------------------------------------------------------------------
# helpers shared with rdlab.rec.gprs
# ---------------------------------------------------------------------------------------


def check_pair(target: object, proposal: object) -> float:
    """Validate (target, proposal); return log r_max in nats (finite), else InputError.

    Any pair registered with :func:`rdlab.rec.distributions.register_pair` is accepted
    (the proposal must also have ``from_uniforms``)."""
    if not callable(getattr(proposal, "from_uniforms", None)):
        raise InputError("proposal", f"cannot draw candidates from {type(proposal).__name__}")
    if not supported_pair(target, proposal):
        raise InputError(
            "target",
            f"no sampler formulas for {type(target).__name__} vs {type(proposal).__name__} "
            "(register the pair with rdlab.rec.distributions.register_pair)",
        )
    log_m = log_ratio_max(target, proposal)  # InputError on dims / alphabets
    if math.isfinite(log_m):
        return log_m
    if isinstance(target, Gaussian) and isinstance(proposal, Gaussian):
        wide = np.flatnonzero(target.std > proposal.std)
        if wide.size:
            i = int(wide[0])
            why = (
                f"target std {target.std[i]:g} > proposal std {proposal.std[i]:g} in dimension {i}"
            )
        else:
            i = int(np.flatnonzero(target.mean != proposal.mean)[0])
            why = f"equal std {target.std[i]:g} but different means in dimension {i}"
    elif isinstance(target, (Uniform, Triangular)) and isinstance(proposal, Uniform):
        why = (
            f"target support [{target.low:g}, {target.high:g}] is not inside the "
            f"proposal's [{proposal.low:g}, {proposal.high:g}]"
        )
    else:
        why = f"sup dQ/dP is infinite for {target!r} vs {proposal!r}"
    raise InputError(
        "target",
        f"the density ratio dQ/dP is unbounded ({why}); exact samplers need a bounded "
        "ratio: use a proposal that covers the target and is wider in every dimension",
    )


def _check_budget(log_m: float, max_steps: int) -> None:
    """StepLimitError up front when the expected step count r_max exceeds max_steps."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)):
        raise InputError("max_steps", f"must be an integer, got {max_steps!r}")
    if max_steps < 1:
        raise InputError("max_steps", f"must be >= 1, got {max_steps}")
    if log_m > math.log(max_steps):
        raise StepLimitError(
            f"the sampler needs 2^D_inf = 2^{log_m * _LOG2E:.2f} = {math.exp(log_m):.4g} "
            f"steps on average, more than max_steps = {int(max_steps)}"
        )


def _default_code(target: object, proposal: object, code: IndexCode | None) -> IndexCode:
    if code is None:
        return IndexCode.zeta(kl_bits(target, proposal))  # type: ignore[arg-type]
    if not isinstance(code, IndexCode):
        raise InputError("code", f"must be an IndexCode, got {code!r}")
    return code


def _first_chunk(log_m: float) -> int:
    """A first chunk that usually holds the whole search (about 4 r_max candidates)."""
    want = 4.0 * math.exp(min(log_m, 40.0)) + 16.0
    return int(min(max(1 << math.ceil(math.log2(want)), _FIRST_CHUNK_MIN), _CHUNK_MAX))


def _fast_chunk(
    proposal: Gaussian | Uniform, seed: int, stream: str, block: int, start: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Encoder-side candidates ``start + 1 .. start + count``: (Exp(1) increments of the
    arrival times, shape (count,); candidates, shape (count, dim)).

    Same rows as :func:`candidate_rows`, transformed with the proposal's
    ``fast_from_uniforms`` where it has one (NumPy/SciPy, not bit-reproducible); the
    encoder only uses them to choose an index, and returns the sample regenerated by
    :func:`_regenerate` (bit-exact, what the decoder gets).
    """
    u = rng.open_uniform_rows(seed, stream_id(stream), block, start, count, 1 + proposal.dim)
    fast = getattr(proposal, "fast_from_uniforms", None)
    x = fast(u[:, 1:]) if fast is not None else proposal.from_uniforms(u[:, 1:])
    return -np.log(u[:, 0]), x


def _regenerate(proposal: object, seed: int, stream: str, block: int, index: int) -> np.ndarray:
    """Candidate ``index`` (1-based) alone, bit-exact: float64, shape (dim,)."""
    _, x = candidate_rows(proposal, seed, stream, block, index - 1, 1)
    return np.array(x[0], dtype=np.float64)


def _decode_index(message: Message, sampler: str) -> int:
    if not isinstance(message, Message):
        raise InputError("message", f"must be a Message, got {type(message).__name__}")
    if message.sampler != sampler:
        raise InputError("message", f"was made by {message.sampler!r}, not {sampler!r}")
    return int(decode_indices(message.code, message.data, 1)[0])


# ---------------------------------------------------------------------------------------
# A* / PFR
# ---------------------------------------------------------------------------------------


def search(
    target: object,
    proposal: Gaussian | Uniform,
    seed: int,
    block: int,
    log_m: float,
    max_steps: int,
) -> tuple[int, int]:
    """Run the A* search; return (index N, 1-based; steps = candidates examined).

    Candidate k is examined when ``T_k / r_max <= min_{j<k} T_j / r(X_j)``; the first
    candidate failing that test stops the search (only its time is needed). Scores are
    kept as ``log r(X_k) - log T_k`` (nats; larger is better).
    """
    best = -math.inf
    best_index = 0
    t_prev = 0.0
    start = 0
    chunk = _first_chunk(log_m)
    while start <= max_steps:
        # one more row than max_steps so that a stop right at the limit is seen
        count = min(chunk, max_steps + 1 - start)
        increments, x = _fast_chunk(proposal, seed, STREAM, block, start, count)
        times = t_prev + np.cumsum(increments)
        log_t = np.log(times)
        score = log_ratio(target, proposal, x) - log_t
        running = np.maximum.accumulate(score)
        before = np.empty(count)
        before[0] = best
        np.maximum(running[:-1], best, out=before[1:])
        stop = log_m - log_t < before  # T_k / r_max > best value so far
        if stop.any():
            k = int(np.argmax(stop))
            if k > 0 and running[k - 1] > best:
                best_index = start + int(np.argmax(score[:k])) + 1
            return best_index, start + k
        if running[-1] > best:
            best, best_index = float(running[-1]), start + int(np.argmax(score)) + 1
        t_prev = float(times[-1])
        start += count
        chunk = min(chunk * 4, _CHUNK_MAX)
    raise StepLimitError(
        f"A* search examined max_steps = {max_steps} candidates without stopping "
        f"(expected {math.exp(log_m):.4g})"
    )


def encode(
    target: Gaussian | Uniform | Triangular,
    proposal: Gaussian | Uniform,
    seed: int,
    *,
    block: int = 0,
    code: IndexCode | None = None,
    max_steps: int = 1 << 24,
) -> Message:
    """Send an exact sample of ``target`` (Q) given the shared ``proposal`` (P).

    ``seed`` and ``block`` select the shared randomness (stream ``"rec/pfr"``, Philox
    block ``block``). ``code``: the index code, by default ``IndexCode.zeta(KL)`` with
    KL = D_KL(Q||P) in bits; the decoder must use the same code (it is stored in the
    message). Returns a :class:`Message` with ``sampler="pfr"``, ``index`` = N (1-based),
    ``steps`` = candidates examined (mean 2**D_inf), ``bits`` = ideal code length of N
    (bits) and ``sample`` = candidate N (float64, shape (dim,)), bit for bit what
    :func:`decode` returns.

    Raises :class:`InputError` for unsupported pairs or an unbounded ratio dQ/dP, and
    :class:`StepLimitError` when 2**D_inf exceeds ``max_steps`` or the search reaches it.
    """
    log_m = check_pair(target, proposal)
    _check_budget(log_m, max_steps)
    code = _default_code(target, proposal, code)
    index, steps = search(target, proposal, seed, block, log_m, int(max_steps))
    data, bits = encode_indices(code, [index])
    sample = _regenerate(proposal, seed, STREAM, block, index)
    return Message("pfr", code, data, bits, index=index, steps=steps, sample=sample)


def decode(
    message: Message, proposal: Gaussian | Uniform, seed: int, *, block: int = 0
) -> np.ndarray:
    """The sample of ``message`` (float64, shape (dim,)): candidate N of the shared stream,
    regenerated alone. Needs the encoder's ``proposal``, ``seed``, ``block`` and code."""
    index = _decode_index(message, "pfr")
    return _regenerate(proposal, seed, STREAM, block, index)
