"""Global greedy Poisson rejection sampling (GPRS).

Flamich (2023), "Greedy Poisson rejection sampling", NeurIPS.

Encoder and decoder share a Poisson process on ``(0, inf) x Omega`` with mean measure
Lebesgue x P: arrival times ``T_1 < T_2 < ...`` (cumulative sums of Exp(1) variates) and
candidates ``X_k ~ P``, read from stream ``"rec/gprs"`` of :mod:`rdlab.rng` exactly as
:mod:`rdlab.rec.pfr` reads its own stream (candidate ``n`` is row ``n - 1``; word 0 gives
the Exp(1) increment ``-log u0``, words 1.. the coordinates). The encoder sends the first
index ``N`` with

    T_N <= sigma(r(X_N)),        r = dQ/dP,

where the *stretch function* sigma solves ``sigma'(h) = 1 / g(h)``, ``sigma(0) = 0``, with

    g(h) = w_Q(h) - h w_P(h) = E_P[(r(X) - h)_+],
    w_P(h) = P(r(X) >= h),  w_Q(h) = Q(r(X) >= h).

Its inverse ``phi = sigma^-1`` solves ``phi'(t) = g(phi(t))``, ``phi(0) = 0`` and rises to
``r_max`` as ``t -> inf``. Then ``X_N`` is an exact sample of Q, ``E[N] = r_max =
2**D_inf`` and ``E[log2 N] <= D_KL + log2(D_KL + 1) + O(1)`` (bits). The time axis is
dimensionless (the process has unit rate); ratios ``h`` are plain numbers (not logs).

Supported pairs (target Q, proposal P), all one-dimensional:

- :class:`Triangular` target, :class:`Uniform` proposal: with ``M = r_max = peak * W_p``,
  ``w_Q(h) = 1 - (h/M)^2`` and ``w_P(h) = (2/M)(1 - h/M)``, so ``g(h) = (1 - h/M)^2``,
  ``sigma(h) = h / (1 - h/M)`` and ``phi(t) = t M / (M + t)`` (closed form).
- :class:`Uniform` target inside a :class:`Uniform` proposal: ``r`` is ``M`` on the
  target's support and 0 elsewhere, ``sigma(M) = inf``: the first candidate inside the
  target's support is accepted.
- :class:`Gaussian` target and proposal with the target narrower (``std_q < std_p``):
  ``{r >= h}`` is an interval centred at the ratio's mode; sigma is tabulated once per
  pair (see :class:`_GaussianStretch`) by Gauss–Legendre quadrature of ``1/g``, with
  ``g`` from normal CDFs (or, near the mode where ``w_Q - h w_P`` cancels, from the
  stable integral ``E_P[(r - h)_+]``); candidates whose acceptance the interpolated
  table cannot decide are settled with a direct quadrature (relative error ~1e-13).
  Equal std and equal mean (Q = P) accept the first candidate; equal std and different
  means (unbounded ratio) are refused.

Multi-dimensional Gaussian pairs are refused: use :mod:`rdlab.rec.pfr` (A* coding) there.

The decoder regenerates candidate ``N`` alone (random access) and must know the index
code the encoder used (:attr:`Message.code` here; a real decoder rebuilds it from what
both sides know, e.g. the KL budget in bits for :meth:`IndexCode.zeta`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.interpolate import CubicHermiteSpline
from scipy.special import ndtr

from ..errors import InputError, StepLimitError
from .distributions import Gaussian, Triangular, Uniform
from .messages import IndexCode, Message, encode_indices
from .pfr import (
    _check_budget,
    _decode_index,
    _default_code,
    _fast_chunk,
    _first_chunk,
    _regenerate,
    check_pair,
)

__all__ = ["STREAM", "decode", "encode", "stretch"]

STREAM = "rec/gprs"
_CHUNK_MAX = 1 << 16
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Table of the Gaussian stretch function over log(delta), delta = log r_max - log h (nats)
_DELTA_LO = 1e-12  # below: leading-order asymptote sigma ~ A / sqrt(delta)
_DELTA_TAIL = 40.0  # above log r_max + this, sigma(h) = h to double precision
_DU = 0.125  # spacing of the table in log(delta)
_STABLE_BELOW = 1.0  # delta < this: g from the cancellation-free integral


def _interval_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Standard normal mass of [a, b] (arrays, a <= b), without cancelling tails."""
    upper = ndtr(-a) - ndtr(-b)  # accurate when a >= 0
    lower = ndtr(b) - ndtr(a)  # accurate when b <= 0
    middle = 1.0 - ndtr(a) - ndtr(-b)
    return np.where(a >= 0, upper, np.where(b <= 0, lower, middle))


class _GaussianStretch:
    """sigma for Q = N(mu, rho^2), P = N(0, 1) (standardized by the proposal), rho < 1.

    With ``c = (1/rho^2 - 1) / 2`` and mode ``z* = mu / (1 - rho^2)``, ``log r(z) = log M -
    c (z - z*)^2``; a ratio value ``h`` is written ``delta = log M - log h = c s^2`` where
    ``[z* - s, z* + s] = {r >= h}``. Then ``sigma(delta) = int_delta^inf M e^-d / G(d) dd``
    with ``G(d) = g(M e^-d)``. The table holds ``log sigma`` at ``u = log delta`` on a grid
    of spacing ``_DU`` (exact nodes by 20-point Gauss–Legendre per interval, summed from
    the tail) with cubic Hermite interpolation (exact slopes); ``band`` bounds the
    interpolation error in ``log sigma`` on each interval (8 x its midpoint error).
    """

    def __init__(self, mu: float, rho: float) -> None:
        self.mu, self.rho = mu, rho
        self.c = 0.5 * (1.0 / (rho * rho) - 1.0)
        self.z_star = mu / (1.0 - rho * rho)
        self.log_m = -math.log(rho) + 0.5 * mu * mu / (1.0 - rho * rho)
        self.m = math.exp(self.log_m)
        dz = (self.z_star - mu) / rho
        self.q_star = math.exp(-0.5 * dz * dz) * _INV_SQRT_2PI / rho
        # near the mode G ~ (4/3) q* delta^1.5 / sqrt(c): sigma ~ A / sqrt(delta)
        self.asym = 1.5 * self.m * math.sqrt(self.c) / self.q_star
        self.u_lo = math.log(_DELTA_LO)
        n = math.ceil((math.log(self.log_m + _DELTA_TAIL) - self.u_lo) / _DU)
        self.u = self.u_lo + _DU * np.arange(n + 1)
        self.delta_hi = float(math.exp(self.u[-1]))
        pieces = self._integral(self.u[:-1], self.u[1:])
        sigma_hi = self.m * math.exp(-self.delta_hi)  # g = 1 - O(h) there: sigma = h
        self.log_sigma = np.log(sigma_hi + np.concatenate([np.cumsum(pieces[::-1])[::-1], [0]]))
        slope = self._dlog_sigma(self.u, self.log_sigma)
        self.spline = CubicHermiteSpline(self.u, self.log_sigma, slope)
        mid = 0.5 * (self.u[:-1] + self.u[1:])
        exact_mid = np.log(np.exp(self.log_sigma[1:]) + self._integral(mid, self.u[1:]))
        # per interval: 8 x the midpoint error of the interpolated log sigma, + 1e-11
        self.band = 8.0 * np.abs(self.spline(mid) - exact_mid) + 1e-11

    # -- g and the integrand --------------------------------------------------------

    def g(self, delta: np.ndarray) -> np.ndarray:
        """G(delta) = E_P[(r - h)_+] at h = M exp(-delta) (delta > 0, array)."""
        delta = np.asarray(delta, dtype=np.float64)
        out = np.empty_like(delta)
        stable = delta < _STABLE_BELOW
        if stable.any():
            out[stable] = self._g_stable(delta[stable])
        wide = ~stable
        if wide.any():
            d = delta[wide]
            s = np.sqrt(d / self.c)
            lo, hi = self.z_star - s, self.z_star + s
            w_q = _interval_mass((lo - self.mu) / self.rho, (hi - self.mu) / self.rho)
            w_p = _interval_mass(lo, hi)
            out[wide] = w_q - self.m * np.exp(-d) * w_p
        return out

    def _g_stable(self, delta: np.ndarray) -> np.ndarray:
        """G as int_{-s}^{s} q(z* + y) (1 - exp(-(delta - c y^2))) dy: no cancellation.
        Composite 20-point Gauss–Legendre, panels at most 4 std of Q wide and with
        width * max |d log q / dz| <= 24 (relative error ~1e-14, checked against QUADPACK
        in the tests)."""
        s = np.sqrt(delta / self.c)
        grad = (abs(self.z_star - self.mu) + s) / (self.rho * self.rho)  # max |d log q/dz|
        width = np.minimum(4.0 * self.rho, 24.0 / grad)
        need = np.ceil(2.0 * s / width).astype(np.int64)
        out = np.empty_like(delta)
        for panels in np.unique(need):
            sel = need == panels
            # points y = s * t, t in [-1, 1] split into `panels` equal panels
            edges = np.linspace(-1.0, 1.0, int(panels) + 1)
            half = 0.5 * (edges[1] - edges[0])
            t = ((0.5 * (edges[:-1] + edges[1:]))[:, None] + half * _GL_NODES).ravel()
            w = np.tile(_GL_WEIGHTS * half, int(panels))
            y = s[sel, None] * t[None, :]
            z = (self.z_star + y - self.mu) / self.rho
            q = np.exp(-0.5 * z * z) * (_INV_SQRT_2PI / self.rho)
            gap = -np.expm1(-delta[sel, None] * (1.0 - t[None, :] ** 2))
            out[sel] = s[sel] * ((q * gap) @ w)
        return out

    def _f(self, u: np.ndarray) -> np.ndarray:
        """d sigma / d u with u = log delta, as a positive number: M e^-delta delta / G."""
        delta = np.exp(u)
        return self.m * np.exp(-delta) * delta / self.g(delta)

    def _integral(self, u0: np.ndarray, u1: np.ndarray) -> np.ndarray:
        """int_{u0}^{u1} f(u) du (arrays, u1 - u0 <= _DU) by 20-point Gauss–Legendre."""
        u0 = np.asarray(u0, dtype=np.float64)
        u1 = np.asarray(u1, dtype=np.float64)
        half = 0.5 * (u1 - u0)
        nodes = (0.5 * (u0 + u1))[:, None] + half[:, None] * _GL_NODES[None, :]
        vals = self._f(nodes.ravel()).reshape(nodes.shape)
        return half * (vals @ _GL_WEIGHTS)

    def _dlog_sigma(self, u: np.ndarray, log_sigma: np.ndarray) -> np.ndarray:
        return -self._f(u) / np.exp(log_sigma)

    # -- sigma -----------------------------------------------------------------------

    def sigma_exact(self, delta: np.ndarray) -> np.ndarray:
        """sigma at gaps ``delta`` (nats, >= 0; 0 gives inf) to ~1e-13 relative."""
        delta = np.asarray(delta, dtype=np.float64)
        out = np.empty_like(delta)
        tail = delta >= self.delta_hi
        out[tail] = self.m * np.exp(-delta[tail])
        near = delta < _DELTA_LO
        with np.errstate(divide="ignore"):
            out[near] = math.exp(self.log_sigma[0]) + self.asym * (
                1.0 / np.sqrt(delta[near]) - 1.0 / math.sqrt(_DELTA_LO)
            )
        inner = ~(tail | near)
        if inner.any():
            u = np.log(delta[inner])
            i = np.clip(((u - self.u_lo) // _DU).astype(np.int64), 0, self.u.size - 2)
            out[inner] = np.exp(self.log_sigma[i + 1]) + self._integral(u, self.u[i + 1])
        return out

    def accepts(self, times: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Whether ``T <= sigma(delta)`` elementwise; interpolates, and integrates
        directly where the interpolation error could change the answer."""
        out = np.empty(delta.shape, dtype=bool)
        tail = delta >= self.delta_hi
        near = delta < _DELTA_LO
        direct = tail | near
        out[direct] = times[direct] <= self.sigma_exact(delta[direct])
        inner = ~direct
        if inner.any():
            u = np.log(delta[inner])
            i = np.clip(((u - self.u_lo) // _DU).astype(np.int64), 0, self.u.size - 2)
            gap = np.log(times[inner]) - self.spline(u)
            decided = np.abs(gap) > self.band[i]
            res = gap < 0
            unsure = np.flatnonzero(~decided)
            if unsure.size:
                d = delta[inner][unsure]
                res[unsure] = times[inner][unsure] <= self.sigma_exact(d)
            out[inner] = res
        return out


@lru_cache(maxsize=32)
def _gaussian_stretch(mu: float, rho: float) -> _GaussianStretch:
    return _GaussianStretch(mu, rho)


def _standardize(target: Gaussian, proposal: Gaussian) -> tuple[float, float]:
    sp = float(proposal.std[0])
    return (float(target.mean[0]) - float(proposal.mean[0])) / sp, float(target.std[0]) / sp


# ---------------------------------------------------------------------------------------
# acceptance rules per pair
# ---------------------------------------------------------------------------------------

Acceptor = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (times (n,), x (n, 1)) -> bool


def _acceptor(target: object, proposal: object, log_m: float) -> Acceptor:
    if isinstance(target, Gaussian) and isinstance(proposal, Gaussian):
        if target.dim != 1:
            raise InputError(
                "target",
                f"global GPRS here supports the 1-D Gaussian pair and triangular/uniform "
                f"targets vs a uniform proposal, not {target.dim}-D Gaussians "
                "(use rdlab.rec.pfr, A* coding, which handles d dimensions)",
            )
        if log_m == 0.0:  # Q = P
            return lambda times, x: np.ones(times.shape, dtype=bool)
        mu, rho = _standardize(target, proposal)
        table = _gaussian_stretch(mu, rho)
        mp, sp = float(proposal.mean[0]), float(proposal.std[0])

        def gaussian(times: np.ndarray, x: np.ndarray) -> np.ndarray:
            z = (x[:, 0] - mp) / sp - table.z_star
            return table.accepts(times, table.c * z * z)

        return gaussian
    if isinstance(target, Triangular) and isinstance(proposal, Uniform):
        m = math.exp(log_m)

        def triangular(times: np.ndarray, x: np.ndarray) -> np.ndarray:
            h = target.density(x) * proposal.width
            return times * m <= h * (m + times)  # phi(T) = T M / (M + T) <= r(X)

        return triangular
    if isinstance(target, Uniform) and isinstance(proposal, Uniform):
        lo, hi = target.low, target.high
        return lambda times, x: (x[:, 0] >= lo) & (x[:, 0] <= hi)
    raise InputError(
        "target",
        f"global GPRS supports the 1-D Gaussian pair and triangular/uniform targets vs a "
        f"uniform proposal, not {type(target).__name__} vs {type(proposal).__name__}",
    )


def stretch(target: object, proposal: object, h: np.ndarray) -> np.ndarray:
    """The stretch function sigma(h) for density-ratio values ``h`` in [0, r_max] (plain
    ratios, not logs; any shape): the time (dimensionless) up to which a candidate with
    ``r(X) = h`` is accepted. ``sigma(r_max) = inf``."""
    log_m = check_pair(target, proposal)
    _acceptor(target, proposal, log_m)  # refuses unsupported pairs
    h = np.asarray(h, dtype=np.float64)
    m = math.exp(log_m)
    if np.any((h < 0) | (h > m * (1 + 1e-12))):
        raise InputError("h", f"ratio values must lie in [0, r_max = {m:.6g}]")
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(target, Gaussian) and log_m > 0.0:
            table = _gaussian_stretch(*_standardize(target, proposal))  # type: ignore[arg-type]
            delta = np.maximum(log_m - np.log(h), 0.0)
            return np.where(h > 0, table.sigma_exact(np.atleast_1d(delta)).reshape(h.shape), 0.0)
        if isinstance(target, Triangular):
            return np.where(h < m, h / (1.0 - h / m), np.inf)
        return np.where(h < m, -m * np.log1p(-h / m), np.inf)


# ---------------------------------------------------------------------------------------
# encoder / decoder
# ---------------------------------------------------------------------------------------


def _search(
    proposal: Gaussian | Uniform,
    seed: int,
    block: int,
    accept: Acceptor,
    log_m: float,
    max_steps: int,
) -> int:
    """First 1-based index N with T_N <= sigma(r(X_N)); StepLimitError past max_steps."""
    t_prev = 0.0
    start = 0
    chunk = _first_chunk(log_m)
    while start < max_steps:
        count = min(chunk, max_steps - start)
        increments, x = _fast_chunk(proposal, seed, STREAM, block, start, count)
        times = t_prev + np.cumsum(increments)
        ok = accept(times, x)
        if ok.any():
            return start + int(np.argmax(ok)) + 1
        t_prev = float(times[-1])
        start += count
        chunk = min(chunk * 4, _CHUNK_MAX)
    raise StepLimitError(
        f"GPRS rejected max_steps = {max_steps} candidates (expected {math.exp(log_m):.4g})"
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
    """Send an exact sample of ``target`` (Q) given the shared ``proposal`` (P) by GPRS.

    ``seed`` and ``block`` select the shared randomness (stream ``"rec/gprs"``, Philox
    block ``block``). ``code``: the index code, by default ``IndexCode.zeta(KL)`` with
    KL = D_KL(Q||P) in bits; the decoder must use the same code (stored in the message).
    Returns a :class:`Message` with ``sampler="gprs"``, ``index`` = ``steps`` = N
    (1-based; mean 2**D_inf), ``bits`` = ideal code length of N (bits) and ``sample`` =
    candidate N (float64, shape (1,)), bit for bit what :func:`decode` returns.

    Raises :class:`InputError` for unsupported pairs (multi-dimensional Gaussians
    included) or an unbounded ratio, :class:`StepLimitError` when 2**D_inf exceeds
    ``max_steps`` or the search reaches it.
    """
    log_m = check_pair(target, proposal)
    accept = _acceptor(target, proposal, log_m)
    _check_budget(log_m, max_steps)
    code = _default_code(target, proposal, code)
    index = _search(proposal, seed, block, accept, log_m, int(max_steps))
    data, bits = encode_indices(code, [index])
    sample = _regenerate(proposal, seed, STREAM, block, index)
    return Message("gprs", code, data, bits, index=index, steps=index, sample=sample)


def decode(
    message: Message, proposal: Gaussian | Uniform, seed: int, *, block: int = 0
) -> np.ndarray:
    """The sample of ``message`` (float64, shape (1,)): candidate N of the shared stream,
    regenerated alone. Needs the encoder's ``proposal``, ``seed``, ``block`` and code."""
    index = _decode_index(message, "gprs")
    return _regenerate(proposal, seed, STREAM, block, index)
