"""Poisson private representation (PPR): an exact sampler whose message is private.

Liu, Chen, Özgür & Li (2024), "Universal exact compression of differentially private
mechanisms" (NeurIPS 2024). Encoder and decoder share candidates ``Z_1, Z_2, ...``
drawn i.i.d. from the proposal P (the *reference* distribution: it must not depend on
the private data). The encoder alone draws the arrival times ``T_1 < T_2 < ...`` of a
unit-rate Poisson process and i.i.d. ``V_k ~ Exp(1)`` from its **private** generator and
sends

    K = argmin_k  T_k · V_k^(1/α) / r(Z_k),        r = dQ/dP,  α > 1,

i.e. it draws K with probability proportional to ``(r(Z_k) / T_k)^α`` given the
times and candidates (the exponential race with ``V_k``). Then:

- **Exactness.** ``Z_K`` has law Q exactly, for every α > 1 (the selection depends only
  on the points ``T_k / r(Z_k)``, a Poisson process whose marks are i.i.d. Q).
- **Privacy of the message.** Given the shared candidates, ``P(K = k)`` is a ratio of
  weights ``(r(Z_k) / T_k)^α``. If the target is the output law of an ε-LDP mechanism
  at x and at x' (``e^-ε <= dQ_x/dQ_x' <= e^ε`` everywhere), each weight moves by at
  most ``e^(αε)``, the normalized probability by at most ``e^(2αε)``: the message
  (K with the public candidates) is **2αε-LDP**. The arrival times and the V's must
  stay secret; that is why they come from ``generator``, not from the shared stream.
  (With α = ∞ the rule is A* / PFR, whose index reveals the data far more.)
- **Size.** ``E[log2 K] <= D_KL(Q || P) + log2(3.56) / min((α - 1) / 2, 1)`` bits
  (the paper's bound; :func:`rdlab.theory.rec.ppr_log_index_bound`), so the Zipf index
  code costs about ``KL + log2(KL + 1) + O(1)`` bits.

**The search terminates** by the paper's reparametrization: the private points
``(T, V)`` are generated in increasing order of ``B = T^α min(V, 1)``; ``B^(1/α)`` is a
homogeneous Poisson process of rate ``λ = 1/e + γ(1 - 1/α, 1)`` (γ the lower incomplete
gamma function), each point being ``V = 1 + Exp(1)``, ``T = B^(1/α)`` with probability
``(1/e) / λ`` and otherwise ``V ~ Gamma(1 - 1/α)`` truncated to (0, 1],
``T = (B / V)^(1/α)``. Once every point with ``B^(1/α) <= u`` exists, every point with
``T <= u`` exists too, so those are sorted by T, given the next shared candidates and
scored. A point not yet generated has score ``T V^(1/α) / r >= u / r_max``, so phase 1
stops once the best score beats ``u / r_max``. Points already drawn with ``T > u`` (a
tiny V pushes T far out; for α <= 2 the mean of that tail is infinite, so it is never
drawn up to) are indexed in phase 2 without drawing the points before them: the
not-yet-drawn points with arrival times in each gap are an independent Poisson count of
known mean, drawn from the private generator; only those whose bound can still win
fetch their candidate (random access). Everything is vectorized; the mean number of
candidates examined is ``O(r_max)``, ``r_max = 2^D_inf``, as for A*.

Shared randomness: stream ``"rec/ppr"`` of :mod:`rdlab.rng`, Philox block ``block``;
candidate ``k`` is row ``k - 1`` of the open-uniform rows of width ``1 + dim``
(:func:`rdlab.rec.streams.candidate_rows`; word 0 is unused here, words 1.. give the
coordinates through ``proposal.from_uniforms``). The decoder regenerates candidate K
alone, bit for bit the encoder's ``Message.sample``.

Supported pairs: any (target, proposal) registered with
:func:`rdlab.rec.distributions.register_pair` whose ratio is bounded (Gaussian pairs
with a wider proposal, Laplace pairs with a wider proposal, categorical laws, privacy
mechanisms' output laws). Units: divergences and code lengths in bits, log ratios in
nats; samples are float64 arrays of shape ``(dim,)``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gamma, gammainc, gammaincc

from ..errors import InputError, StepLimitError
from .distributions import log_ratio
from .messages import IndexCode, Message, encode_indices
from .pfr import (
    _CHUNK_MAX,
    _check_budget,
    _decode_index,
    _default_code,
    _fast_chunk,
    _first_chunk,
    _regenerate,
    check_pair,
)
from .streams import candidates_at

__all__ = [
    "DEFAULT_ALPHA",
    "MIN_ALPHA",
    "STREAM",
    "check_alpha",
    "decode",
    "decode_many",
    "encode",
    "point_rate",
    "search",
]

STREAM = "rec/ppr"
#: The privacy parameter used when none is given: the paper's experiments use α = 2.
DEFAULT_ALPHA = 2.0
#: Smallest α accepted. The index has a tail ``P(K > k) ~ k^-(α-1)`` from points with a
#: tiny private V; below 1.5 it reaches past the 2^63 addressable words of the shared
#: stream too often (about once in 2^12 messages at α = 1.2), and the index costs
#: ``log2(3.56) / ((α - 1) / 2)`` extra bits (7.3 at α = 1.5).
MIN_ALPHA = 1.5
_MAX_ALPHA = 1e6


def check_alpha(alpha: object) -> float:
    """``alpha`` as a float in [MIN_ALPHA, 1e6]; :class:`InputError` otherwise."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise InputError("alpha", f"must be a number >= {MIN_ALPHA}, got {alpha!r}")
    a = float(alpha)
    if not (math.isfinite(a) and MIN_ALPHA <= a <= _MAX_ALPHA):
        raise InputError("alpha", f"must be in [{MIN_ALPHA}, {_MAX_ALPHA:g}], got {alpha!r}")
    return a


def point_rate(alpha: float) -> float:
    """Rate λ = 1/e + γ(1 - 1/α, 1) of the reparametrized points ``B^(1/α)`` (per unit)."""
    s = 1.0 - 1.0 / check_alpha(alpha)
    return math.exp(-1.0) + float(gammainc(s, 1.0) * gamma(s))


class _PrivatePoints:
    """The encoder's private (T, V) points in increasing order of ``B^(1/α)``."""

    def __init__(self, alpha: float, generator: np.random.Generator) -> None:
        self.alpha = alpha
        self.gen = generator
        self.rate = point_rate(alpha)
        self.p_first = math.exp(-1.0) / self.rate
        self.shape = 1.0 - 1.0 / alpha
        self.u = 0.0

    def _low(self, count: int) -> np.ndarray:
        """``count`` draws of Gamma(1 - 1/α) truncated to (0, 1]: ``U^(1/shape)`` (density
        proportional to v^(shape-1) there) kept with probability e^-v (>= 1/e)."""
        out = np.empty(count)
        filled = 0
        while filled < count:
            k = int(1.6 * (count - filled)) + 8
            v = self.gen.random(k) ** (1.0 / self.shape)
            keep = v[self.gen.random(k) < np.exp(-v)][: count - filled]
            out[filled : filled + keep.size] = keep
            filled += keep.size
        return np.maximum(out, np.finfo(np.float64).tiny)  # log stays finite

    def draw(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``count`` points: (T, log V), shapes (count,)."""
        gen = self.gen
        u = self.u + np.cumsum(gen.exponential(size=count)) / self.rate
        self.u = float(u[-1])
        first = gen.random(count) < self.p_first
        v = 1.0 + gen.exponential(size=count)
        t = u.copy()
        low = ~first
        v_low = self._low(int(low.sum()))
        v[low] = v_low
        t[low] = u[low] * v_low ** (-1.0 / self.alpha)
        return t, np.log(v)


def _ungenerated_mass(u: float, t: np.ndarray, alpha: float) -> np.ndarray:
    """Mean number of not-yet-generated points (those with ``B > u^α``) whose arrival
    time lies in ``(u, t]``, for ``t >= u`` (vectorized):
    ``G(t) = ∫_u^t exp(-(u/τ)^α) dτ = t e^(-s) - u Γ(1 - 1/α, s) - u/e + u Γ(1 - 1/α, 1)``
    with ``s = (u/t)^α`` and Γ the upper incomplete gamma function."""
    shape = 1.0 - 1.0 / alpha
    s = (u / t) ** alpha
    full = float(gamma(shape))
    upper = gammaincc(shape, s) * full
    return t * np.exp(-s) - u * upper - u * math.exp(-1.0) + u * float(gammaincc(shape, 1.0)) * full


def search(
    target: object,
    proposal: object,
    seed: int,
    block: int,
    log_m: float,
    alpha: float,
    generator: np.random.Generator,
    max_steps: int,
) -> tuple[int, int]:
    """Run the PPR search; return (index K, 1-based; candidates examined). ``log_m`` is
    sup log dQ/dP in nats; see :func:`encode` for the rest (this is its search alone,
    for callers that code many indices in one stream).

    Two phases. (1) Private points are drawn in order of ``B^(1/α)`` up to ``u``; those
    with ``T <= u`` get the next shared candidates and are scored, until no point still
    to be drawn can win (``best <= ln u - ln r_max``). (2) Points already drawn but with
    ``T > u`` (a tiny V pushes T far out, with a tail too heavy to draw up to it: for
    α <= 2 its mean is infinite) are indexed without drawing the points before them: the
    not-yet-drawn points with arrival times in each gap form an independent Poisson
    count of mean :func:`_ungenerated_mass`, drawn from the private generator; only those
    whose bound can still beat the best fetch their candidate (random access).
    """
    points = _PrivatePoints(alpha, generator)
    pending_t = np.empty(0)
    pending_lv = np.empty(0)
    best = math.inf  # best score log T + log V / α - log r (nats; smaller wins)
    best_index = 0
    n = 0
    steps = 0
    chunk = _first_chunk(log_m)
    while True:
        t, lv = points.draw(chunk)
        t = np.concatenate([pending_t, t])
        lv = np.concatenate([pending_lv, lv])
        ready = t <= points.u
        order = np.argsort(t[ready], kind="stable")
        ready_t, ready_lv = t[ready][order], lv[ready][order]
        pending_t, pending_lv = t[~ready], lv[~ready]
        m = int(ready_t.size)
        if m:
            steps += m
            if steps > max_steps:
                raise StepLimitError(
                    f"PPR examined max_steps = {max_steps} candidates without stopping "
                    f"(expected about {math.exp(log_m):.4g})"
                )
            _, x = _fast_chunk(proposal, seed, STREAM, block, n, m)  # type: ignore[arg-type]
            score = np.log(ready_t) + ready_lv / alpha - log_ratio(target, proposal, x)
            j = int(np.argmin(score))
            if score[j] < best:
                best, best_index = float(score[j]), n + j + 1
            n += m
        if best <= math.log(points.u) - log_m:
            break
        chunk = min(chunk * 4, _CHUNK_MAX)
    if not pending_t.size:
        return best_index, steps
    order = np.argsort(pending_t, kind="stable")
    pt, plv = pending_t[order], pending_lv[order]
    bounds = np.log(pt) + plv / alpha - log_m
    hopeful = bounds < best
    if not hopeful.any():
        return best_index, steps
    hop = np.flatnonzero(hopeful)  # = how many pending points arrive before each
    th = pt[hop]
    width = 1 + int(proposal.dim)  # type: ignore[attr-defined]
    if (n + float(th[-1]) * 2.0) * width >= 2.0**63:  # G(t) < t: index of the order of t
        raise StepLimitError("PPR drew an index beyond the shared stream (2^63 words)")
    # not-yet-drawn points before each hopeful one: independent Poisson counts per gap
    means = np.diff(_ungenerated_mass(points.u, th, alpha), prepend=0.0)
    before = np.cumsum(generator.poisson(np.maximum(means, 0.0)))
    indices = n + before + hop + 1
    idx = indices.astype(np.int64)
    steps += int(idx.size)
    if steps > max_steps:
        raise StepLimitError(f"PPR examined max_steps = {max_steps} candidates")
    x = candidates_at(proposal, seed, STREAM, np.full(idx.size, block), idx, fast=True)
    score = np.log(th) + plv[hop] / alpha - log_ratio(target, proposal, x)
    j = int(np.argmin(score))
    if score[j] < best:
        best_index = int(idx[j])
    return best_index, steps


def encode(
    target: object,
    proposal: object,
    seed: int,
    *,
    block: int = 0,
    alpha: float = DEFAULT_ALPHA,
    generator: np.random.Generator | None = None,
    code: IndexCode | None = None,
    max_steps: int = 1 << 24,
) -> Message:
    """Send an exact sample of ``target`` (Q) given the shared ``proposal`` (P) by PPR.

    Args:
        target: the law to sample (e.g. a mechanism's output law at the private input).
        proposal: the shared reference law; must not depend on the private input.
        seed, block: select the shared candidates (stream ``"rec/ppr"``, Philox block).
        alpha: the privacy parameter α >= :data:`MIN_ALPHA` (larger: shorter index, weaker
            message privacy 2αε; default 2).
        generator: the encoder's **private** randomness (arrival times and the
            exponential race). ``None`` draws a fresh generator from the operating
            system's entropy; pass a seeded one only for reproducible experiments.
        code: the index code (default ``IndexCode.zeta(KL)``, KL = D_KL(Q || P) in
            bits); the decoder must use the same code (it is stored in the message).
        max_steps: refuse targets needing more than this many candidates.

    Returns:
        A :class:`Message` with ``sampler="ppr"``, ``index`` = K (1-based), ``steps`` =
        candidates examined (mean O(2^D_inf)), ``bits`` = ideal code length of K (bits)
        and ``sample`` = candidate K (float64, shape (dim,)), bit for bit what
        :func:`decode` returns.

    Raises:
        InputError: unsupported pair, unbounded ratio dQ/dP, bad ``alpha``/``generator``.
        StepLimitError: 2^D_inf exceeds ``max_steps`` or the search reaches it.
    """
    a = check_alpha(alpha)
    log_m = check_pair(target, proposal)
    _check_budget(log_m, max_steps)
    if generator is None:
        generator = np.random.default_rng()
    elif not isinstance(generator, np.random.Generator):
        raise InputError("generator", f"must be a numpy Generator, got {generator!r}")
    code = _default_code(target, proposal, code)
    index, steps = search(target, proposal, seed, block, log_m, a, generator, int(max_steps))
    data, bits = encode_indices(code, [index])
    sample = _regenerate(proposal, seed, STREAM, block, index)
    return Message("ppr", code, data, bits, index=index, steps=steps, sample=sample)


def decode(message: Message, proposal: object, seed: int, *, block: int = 0) -> np.ndarray:
    """The sample of ``message`` (float64, shape (dim,)): candidate K of the shared stream,
    regenerated alone. Needs the encoder's ``proposal``, ``seed``, ``block`` and code."""
    index = _decode_index(message, "ppr")
    return _regenerate(proposal, seed, STREAM, block, index)


def decode_many(indices: object, proposal: object, seed: int, blocks: object) -> np.ndarray:
    """The samples of many messages at once: candidate ``indices[i]`` (1-based) of Philox
    block ``blocks[i]`` for every ``i`` (one vectorized pass of the generator, no per-message
    Python work), float64, shape (n, dim); row ``i`` is bit for bit
    ``decode(message_i, proposal, seed, block=blocks[i])``.

    Raises :class:`InputError` for indices < 1 or arrays of different lengths."""
    idx = np.asarray(indices)
    blk = np.asarray(blocks)
    if idx.ndim != 1 or blk.shape != idx.shape:
        raise InputError("indices", "indices and blocks must be 1-D arrays of one length")
    if blk.size and (blk.dtype.kind not in "iu" or int(blk.min()) < 0):
        raise InputError("blocks", "must be integers >= 0")
    if idx.size and (idx.dtype.kind not in "iu" or int(idx.min()) < 1):
        raise InputError("indices", "must be integers >= 1")
    if idx.size == 0:
        return np.zeros((0, int(proposal.dim)))  # type: ignore[attr-defined]
    return candidates_at(proposal, seed, STREAM, blk, idx)
