"""Blahut–Arimoto (BA) computation of rate-distortion curves.

The Lagrangian form: for a slope ``s`` >= 0 (the Lagrange multiplier β, in nats per unit
of distortion, so −dR/dD = s/ln 2 bits per unit of distortion), BA alternates

    Q(y|x) = q(y)·exp(−s·d(x, y)) / Z(x),     Z(x) = Σ_y q(y)·exp(−s·d(x, y)),
    q(y)  ← Σ_x p(x)·Q(y|x)  = q(y)·c(y),      c(y) = Σ_x p(x)·exp(−s·d(x, y)) / Z(x),

with log q kept in the log domain and every sum taken as a max-shifted
(logsumexp-style) product, so nothing under- or overflows. For the squared error on
grids the kernel exp(−s·d) is computed once per slope and each iteration costs two
matrix–vector products (1-D) or four small matrix–matrix products (2-D, where
exp(−s(dx² + dy²)) = kernel_x ⊗ kernel_y: memory O(grid size + side²), never the
65,536×65,536 matrix of a 256×256 grid).

**Default mode** (``certify=False``). Each update yields the exact mutual information of
the current channel, R_up = −s·D − Σ p·log Z − Σ_y q_new(y)·log c(y), and Blahut's lower
bound on R(D) at the same D, R_low = −s·D − Σ p·log Z − max_y log c(y). A slope is done
when either (a) R_up − R_low < ``tol`` (bits per dimension, default 1e-4): the point is
certified within ``tol`` of R(D) of the (discretized) source; or (b) the decrease of the
objective F = R_up + s·D over consecutive updates, extrapolated geometrically
(remaining ≈ Δ_k / (1 − Δ_k/Δ_{k−1}), the ratio capped at 0.999), is below ``tol``.
Rule (b) is a heuristic, not a guarantee: at low rates on 2-D sources BA converges
sublinearly and (b) can stop several ``tol`` early. Updates are accelerated with SQUAREM
(Varadhan & Roland 2008) on log q; an extrapolated q is kept only if it lowers the BA
objective −Σ p·log Z.

**Certified mode** (``certify=True``). A slope is done only when F − F_low < ``tol``
(bits per dimension), where F = R_up + s·D is the objective of the reported channel and
F_low a proven lower bound on its minimum F* over all channels of the grid source:
Blahut's, or, when that is loose (it is set by far-tail grid points where q is still
growing from ~0), a better point of the same dual problem (:func:`_dual_bound`). Since
(D, R_up) is achievable and the line of slope −s through the optimum lies below the convex
R(D), the point then lies at most ``tol`` above the R(D) curve of the grid source (up to
floating-point rounding); ``gap`` reports F − F_low per slope. Updates are over-relaxed BA
steps q ← q·c^α (Matz & Duhamel 2004) with α adapted (doubled while the objective drops
at least by what plain BA guarantees, else α = 1).

In both modes a slope that reaches ``max_iter`` updates raises
:class:`~rdlab.errors.ModelError` (or warns with ``on_cap="warn"``). Sweeps warm-start
each slope with the previous slope's q(y). ``rate_lower`` reports R_low (with certified
mode, F_low − s·D).

Units: the reported distortion is per dimension (MSE per dimension for the grid
functions; the plain ``d`` for discrete sources), rates in bits per dimension; 2-D
results also carry the totals.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from .._arrays import float_array
from ..errors import InputError, ModelError

__all__ = [
    "BAResult",
    "bin_samples",
    "blahut_arimoto",
    "blahut_arimoto_grid",
    "blahut_arimoto_grid_2d",
    "slopes_for_distortions",
]

_LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class BAResult:
    """A BA sweep, one entry per slope (in the order given).

    ``distortion``/``rate`` are per dimension (rate in bits, an upper estimate that is the
    exact I(X;Y) of the computed channel); ``rate_lower`` is Blahut's lower bound on
    R(distortion); ``distortion_total``/``rate_total`` are per source vector (equal to the
    per-dimension values for 1-D sources). ``q`` is the reproduction marginal at the last
    slope; ``iterations`` counts BA updates per slope. ``gap`` is R_up − R_low per slope
    (bits per dimension); with ``certified`` (sweeps run with ``certify=True``) it bounds
    the objective's excess F − F* and hence the point's height above R(D).
    """

    slopes: np.ndarray
    distortion: np.ndarray
    rate: np.ndarray
    rate_lower: np.ndarray
    distortion_total: np.ndarray
    rate_total: np.ndarray
    iterations: np.ndarray
    dim: int
    tolerance: float
    q: np.ndarray
    gap: np.ndarray
    certified: bool = False


def slopes_for_distortions(distortion: Any) -> np.ndarray:
    """Slopes s = 1/(2D) (nats per unit of MSE per dimension): exact for Gaussian sources
    under MSE and asymptotically exact (the Shannon lower bound's slope) for any smooth
    source at high rate. A convenient way to aim a sweep at a range of distortions."""
    d = float_array(distortion, "distortion")
    if d.size and (d <= 0).any():
        raise InputError("distortion", "must be positive")
    return 0.5 / d


# Factors below e^-_CUT (relative to the largest) are set to zero: they cannot matter
# next to the largest term, and keeping them would create subnormal products, which make
# BLAS products 10-100x slower.
_CUT = 300.0


def _exp_cut(x: np.ndarray) -> np.ndarray:
    """exp(x) for x <= 0, with exp(x) = 0 below x = −_CUT (so products stay normal)."""
    return np.exp(np.where(x < -_CUT, -np.inf, x))


def _shifted_exp(logv: np.ndarray) -> tuple[np.ndarray, float]:
    m = float(np.max(logv))
    if not np.isfinite(m):
        m = 0.0
    return _exp_cut(logv - m), m


def _safe_log(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(v)


class _Operator:
    """What the BA sweep needs of a kernel; subclasses give ``log_c`` and
    ``expected_distortion`` (and may fuse the two)."""

    def log_c_and_distortion(
        self, w: np.ndarray, logq: np.ndarray, logz: np.ndarray, logp: np.ndarray
    ) -> tuple[np.ndarray, float]:
        return self.log_c(w), self.expected_distortion(logq, logz, logp)  # type: ignore[attr-defined]


def _max_plus(a: np.ndarray, logv: np.ndarray, chunk: int = 32) -> np.ndarray:
    """out[i, ...] = max_j (logv[j, ...] − a[i, j]) for a of shape (I, J), in row chunks."""
    out = np.empty((a.shape[0], *logv.shape[1:]))
    for start in range(0, a.shape[0], chunk):
        block = a[start : start + chunk]
        out[start : start + chunk] = np.max(
            logv[None, ...] - block.reshape(block.shape + (1,) * (logv.ndim - 1)), axis=1
        )
    return out


def _pool_max(v: np.ndarray, b: int) -> np.ndarray:
    """Max over consecutive blocks of ``b`` rows (the last block may be shorter)."""
    if b == 1:
        return v
    return np.maximum.reduceat(v, np.arange(0, v.shape[0], b), axis=0)


def _pool_min(d: np.ndarray, b: int) -> np.ndarray:
    """Min over consecutive blocks of ``b`` columns."""
    if b == 1:
        return d
    return np.minimum.reduceat(d, np.arange(0, d.shape[1], b), axis=1)


class _Dense(_Operator):
    """exp(−s·d) for a full (N, M) distortion matrix, rows shifted by their minimum."""

    def __init__(self, d: np.ndarray, dim: int) -> None:
        self.d = d
        self.dmin = d.min(axis=1)
        self.dim = dim
        self.shape_x = (d.shape[0],)
        self.shape_y = (d.shape[1],)

    def set_slope(self, s: float) -> None:
        self.s = s
        self.k = _exp_cut(-s * (self.d - self.dmin[:, None]))
        self.kd = self.k * self.d

    def log_z(self, logq: np.ndarray) -> np.ndarray:
        qs, m = _shifted_exp(logq)
        z = self.k @ qs
        out = _safe_log(z) + m - self.s * self.dmin
        bad = ~np.isfinite(out)
        if bad.any():  # exact log-domain fallback for the rows that underflowed
            out[bad] = logsumexp(logq[None, :] - self.s * self.d[bad], axis=1)
        return out

    def log_c(self, w: np.ndarray) -> np.ndarray:
        """log Σ_x exp(w_x − s·d(x, y)) for w = log p − log Z (−inf where p = 0)."""
        v = w - self.s * self.dmin
        ws, m = _shifted_exp(v)
        c = ws @ self.k
        out = _safe_log(c) + m
        bad = ~np.isfinite(out)
        if bad.any():
            out[bad] = logsumexp(w[:, None] - self.s * self.d[:, bad], axis=0)
        return out

    def log_max_conv(self, logv: np.ndarray, scale: float) -> np.ndarray:
        """max_y (logv(y) − scale·d(x, y)) for every source point x."""
        return _max_plus(scale * self.d, logv)

    def expected_distortion(self, logq: np.ndarray, logz: np.ndarray, logp: np.ndarray) -> float:
        """Σ_x p(x) Σ_y Q(y|x)·d(x, y) (total per vector)."""
        qs, m = _shifted_exp(logq)
        kd = self.kd @ qs
        scale = np.exp(logp + m - self.s * self.dmin - logz)
        return float(np.sum(scale * kd))


class _Grid1D(_Dense):
    """Squared error between two 1-D grids. c(y) and the expected distortion come out of
    one pass over the kernel: Σ_x w_x·k(x, y)·(x − y)² = M2 − 2y·M1 + y²·M0 with the
    moments M_r(y) = Σ_x w_x·x^r·k(x, y), computed about the grid's centre."""

    def __init__(self, g: np.ndarray, r: np.ndarray) -> None:
        self.centre = 0.5 * (g.min() + g.max())
        self.x = g - self.centre
        self.y = r - self.centre
        super().__init__((self.x[:, None] - self.y[None, :]) ** 2, 1)
        step = np.diff(g)
        # identical uniform grids: the kernel is a symmetric Toeplitz matrix, gathered from
        # one row (cheaper than N² exponentials) and usable from either side
        self.toeplitz = (
            r is g and bool(np.all(step > 0)) and bool(np.allclose(step, step[0], rtol=1e-9))
        )
        if self.toeplitz:
            self.offsets2 = (np.arange(g.size) * step[0]) ** 2

    def set_slope(self, s: float) -> None:
        self.s = s
        if self.toeplitz:
            row = _exp_cut(-s * self.offsets2)
            both = np.concatenate((row[:0:-1], row))  # kernel at offsets −(n−1) .. n−1
            windows = np.lib.stride_tricks.sliding_window_view(both, row.size)
            self.k = np.ascontiguousarray(windows[::-1])
        else:
            self.k = _exp_cut(-s * (self.d - self.dmin[:, None]))

    def log_c_and_distortion(
        self, w: np.ndarray, logq: np.ndarray, logz: np.ndarray, logp: np.ndarray
    ) -> tuple[np.ndarray, float]:
        v = w - self.s * self.dmin
        ws, m = _shifted_exp(v)
        stacked = np.stack((ws, ws * self.x, ws * self.x * self.x))
        moments = (self.k @ stacked.T).T if self.toeplitz else stacked @ self.k
        c = moments[0]
        out = _safe_log(c) + m
        bad = ~np.isfinite(out)
        if bad.any():
            out[bad] = logsumexp(w[:, None] - self.s * self.d[:, bad], axis=0)
        y = self.y
        per_y = np.maximum(moments[2] - 2 * y * moments[1] + y * y * moments[0], 0.0)
        qs = np.exp(logq + m)
        return out, float(np.sum(qs * per_y))


class _Separable2D(_Operator):
    """exp(−s·((x1−y1)² + (x2−y2)²)) = kx ⊗ ky on a product grid."""

    def __init__(self, gx: np.ndarray, gy: np.ndarray, rx: np.ndarray, ry: np.ndarray) -> None:
        self.dx = (gx[:, None] - rx[None, :]) ** 2
        self.dy = (gy[:, None] - ry[None, :]) ** 2
        self.dxmin = self.dx.min(axis=1)
        self.dymin = self.dy.min(axis=1)
        self.dim = 2
        self.shape_x = (gx.size, gy.size)
        self.shape_y = (rx.size, ry.size)

    def set_slope(self, s: float) -> None:
        self.s = s
        self.kx = _exp_cut(-s * (self.dx - self.dxmin[:, None]))
        self.ky = _exp_cut(-s * (self.dy - self.dymin[:, None]))
        self.shift = -s * (self.dxmin[:, None] + self.dymin[None, :])
        self.kxd = self.kx * self.dx
        self.kyd = self.ky * self.dy

    @staticmethod
    def _log_two_sided(a: np.ndarray, logv: np.ndarray, b: np.ndarray) -> np.ndarray:
        """log(a @ exp(logv) @ b.T) with per-row then per-column max shifts."""
        rmax = np.max(logv, axis=1, keepdims=True)
        rmax = np.where(np.isfinite(rmax), rmax, 0.0)
        t = _exp_cut(logv - rmax) @ b.T
        logt = _safe_log(t) + rmax
        cmax = np.max(logt, axis=0, keepdims=True)
        cmax = np.where(np.isfinite(cmax), cmax, 0.0)
        return _safe_log(a @ _exp_cut(logt - cmax)) + cmax

    def _exact(self, logq: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Exact log Z, in the log domain, for the source points whose shifted products
        underflowed: a logsumexp over y2 for the columns involved, then over y1."""
        s = self.s
        ucols, where = np.unique(cols, return_inverse=True)
        logt = np.empty((logq.shape[0], ucols.size))
        for start in range(0, ucols.size, 16):
            block = ucols[start : start + 16]
            e = logq[:, None, :] - s * self.dy[block][None, :, :]
            logt[:, start : start + 16] = logsumexp(e, axis=2)
        return logsumexp(-s * self.dx[rows] + logt[:, where].T, axis=1)

    def log_z(self, logq: np.ndarray) -> np.ndarray:
        out = self._log_two_sided(self.kx, logq, self.ky) + self.shift
        bad = ~np.isfinite(out)
        if bad.any():
            r, c = np.nonzero(bad)
            out[r, c] = self._exact(logq, r, c)
        return out

    def log_max_conv(self, logv: np.ndarray, scale: float) -> np.ndarray:
        """An upper envelope of max_y (logv(y) − scale·((x1 − y1)² + (x2 − y2)²)), one
        grid axis at a time, with y pooled into blocks of up to 4×4 grid points (the block
        max of logv at the block's nearest distance) so the cost stays small."""
        b1, b2 = self._blocks(logv.shape[0]), self._blocks(logv.shape[1])
        pooled = _pool_max(_pool_max(logv, b1).T, b2)  # (y2 blocks, y1 blocks)
        # source points pooled too (the nearest distance between an x block and a y
        # block): still an upper envelope for every x of the block, 16x cheaper
        dy = _pool_min(_pool_min(self.dy, b2).T, b2).T  # (x2 blocks, y2 blocks)
        dx = _pool_min(_pool_min(self.dx, b1).T, b1).T
        inner = _max_plus(scale * dy, pooled)  # (x2 blocks, y1 blocks)
        coarse = _max_plus(scale * dx, inner.T)  # (x1 blocks, x2 blocks)
        full = np.repeat(np.repeat(coarse, b1, axis=0), b2, axis=1)
        return full[: self.shape_x[0], : self.shape_x[1]]

    @staticmethod
    def _blocks(n: int) -> int:
        return max(1, min(4, n // 64))

    def log_c(self, w: np.ndarray) -> np.ndarray:
        # c(y) that underflows (y far from all source mass) stays 0: q(y) = 0 is then exact
        # to double precision
        return self._log_two_sided(self.kx.T, w + self.shift, self.ky.T)

    def expected_distortion(self, logq: np.ndarray, logz: np.ndarray, logp: np.ndarray) -> float:
        qs, m = _shifted_exp(logq)
        kd = self.kxd @ qs @ self.ky.T + self.kx @ qs @ self.kyd.T
        scale = np.exp(logp + m + self.shift - logz)
        return float(np.sum(scale * kd))


def _check_slopes(slopes: Any) -> np.ndarray:
    s = np.atleast_1d(float_array(slopes, "slopes"))
    if s.ndim != 1 or s.size == 0 or (s <= 0).any():
        raise InputError("slopes", "must be a non-empty 1-D array of positive numbers")
    return s


def _check_options(tol: float, max_iter: int, on_cap: str) -> None:
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise InputError("tol", f"must be a positive number, got {tol!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise InputError("max_iter", f"must be a positive integer, got {max_iter!r}")
    if on_cap not in ("raise", "warn"):
        raise InputError("on_cap", f"must be 'raise' or 'warn', got {on_cap!r}")


# over-relaxation exponents tried by the adaptive BA step, and the dual-bound settings
_ALPHA_MAX = 64.0
_FLOOR = 250.0
_DUAL_SCALE = 0.05
_DUAL_ROUNDS = 24


def _dual_bound(
    op: Any,
    logz: np.ndarray,
    logc: np.ndarray,
    logp: np.ndarray,
    positive: np.ndarray,
    p: np.ndarray,
    target: float,
) -> float:
    """A certified lower bound on F* = min (I + s·D) (nats, totals).

    Any μ(x) gives F* >= Σ p·μ − log max_y C(y), C(y) = Σ_x p(x)·e^{μ(x) − s·d(x, y)}
    (Csiszár's dual of R(D); μ = −log Z with no correction gives Blahut's bound). Here
    μ = −log Z − correction, and each round raises the correction by
    log max(1, max_y C(y)·e^{−κ·s·d(x, y)}) (κ = ``_DUAL_SCALE``): only the source points
    near the grid points where C > 1 (the far tails, where q is still growing from ~0)
    lose, and those carry little mass. Every round's bound is evaluated exactly, so the
    best one is valid whatever the rounds do. Stops once the bound reaches ``target``."""
    best = -np.inf
    correction = np.zeros(logz.shape)
    for _ in range(_DUAL_ROUNDS + 1):
        mu = -logz - correction
        log_cc = op.log_c(np.where(positive, logp + mu, -np.inf))
        bound = float(np.sum(p[positive] * mu[positive])) - float(np.max(log_cc))
        best = max(best, bound)
        if best >= target:
            break
        correction = correction + np.maximum(op.log_max_conv(log_cc, _DUAL_SCALE * op.s), 0.0)
    return best


def _sweep(
    op: Any,
    p: np.ndarray,
    slopes: np.ndarray,
    q0: np.ndarray | None,
    tol: float,
    max_iter: int,
    on_cap: str,
    certify: bool = False,
) -> BAResult:
    # source points with p < e^-200·max p carry no mass that float64 can register next to
    # the rest; dropping them keeps the kernels' products away from underflow
    p = np.where(p < float(p.max()) * np.exp(-200.0), 0.0, p)
    p = p / p.sum()
    logp = _safe_log(p)
    positive = p > 0
    dim = op.dim
    if q0 is None:
        logq = np.full(op.shape_y, -np.log(np.prod(op.shape_y)))
    else:
        q = float_array(q0, "q0")
        if q.shape != op.shape_y or (q < 0).any() or q.sum() <= 0:
            raise InputError("q0", f"must be a non-negative array of shape {op.shape_y}")
        logq = _safe_log(q / q.sum())
    n = slopes.size
    dist, rate, low, iters = np.empty(n), np.empty(n), np.empty(n), np.zeros(n, dtype=np.int64)
    gaps = np.empty(n)
    tol_nats = tol * dim * _LN2  # the gap is checked per dimension, in bits
    solve = _solve_certified if certify else _solve_squarem
    for k, s in enumerate(slopes):
        op.set_slope(float(s))
        logq, r_up, r_low, d_total, it, gap, converged = solve(
            op, logq, p, logp, positive, float(s), tol_nats, max_iter
        )
        if not converged:
            message = (
                f"Blahut–Arimoto did not reach the tolerance {tol} bit at slope {s:g} within "
                f"max_iter={max_iter} iterations"
            )
            if certify:
                message += f" (certified gap {gap / _LN2 / dim:.2g} bit)"
            if on_cap == "raise":
                raise ModelError(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        dist[k] = d_total / dim
        rate[k] = max(r_up, 0.0) / _LN2 / dim
        low[k] = max(r_low, 0.0) / _LN2 / dim
        gaps[k] = gap / _LN2 / dim
        iters[k] = it
    return BAResult(
        slopes=slopes,
        distortion=dist,
        rate=rate,
        rate_lower=low,
        distortion_total=dist * dim,
        rate_total=rate * dim,
        iterations=iters,
        dim=dim,
        tolerance=float(tol),
        q=np.exp(logq),
        gap=gaps,
        certified=certify,
    )


_Solved = tuple[np.ndarray, float, float, float, int, float, bool]


def _solve_squarem(
    op: Any,
    logq: np.ndarray,
    p: np.ndarray,
    logp: np.ndarray,
    positive: np.ndarray,
    s: float,
    tol_nats: float,
    max_iter: int,
) -> _Solved:
    """One slope by BA with SQUAREM; stopping rules (a) or (b) of the module docstring.
    Returns (log q, R_up, R_low, D_total, updates, R_up − R_low, converged), nats."""

    def step(logq: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """One BA update; returns (new log q, R_up, R_low, D_total) of the channel of q."""
        logz = op.log_z(logq)
        w = np.where(positive, logp - logz, -np.inf)
        logc, d_total = op.log_c_and_distortion(w, logq, logz, logp)
        logq_new = logq + logc
        q_new = np.exp(logq_new)
        ok = q_new > 0
        base = -s * d_total - float(np.sum(p[positive] * logz[positive]))
        r_up = base - float(np.sum(q_new[ok] * logc[ok]))
        r_low = base - float(np.max(logc))
        return logq_new - logsumexp(logq_new), r_up, r_low, d_total

    it = 0
    converged = False
    while it < max_iter:
        # SQUAREM cycle (Varadhan & Roland 2008) on log q: two BA steps, an extrapolated
        # point, kept only if it lowers the BA objective r + s·D; then the stopping tests
        theta1, r0, low0, d0 = step(logq)
        theta2, r1, low1, d1 = step(theta1)
        it += 2
        if r0 - low0 < tol_nats or r1 - low1 < tol_nats:
            r_up, r_low, d_total = (r0, low0, d0) if r0 - low0 < tol_nats else (r1, low1, d1)
            logq = theta1 if r0 - low0 < tol_nats else theta2
            converged = True
            break
        theta3, r2, low2, d2 = step(theta2)
        it += 1
        r_up, r_low, d_total = r2, low2, d2
        if r2 - low2 < tol_nats:
            logq, converged = theta2, True
            break
        # geometric extrapolation of the remaining decrease of the objective F = R + s·D
        if _looks_converged([r0 + s * d0, r1 + s * d1, r2 + s * d2], tol_nats):
            logq, converged = theta2, True
            break
        finite = np.isfinite(theta1) & np.isfinite(theta2) & np.isfinite(theta3)
        rr = np.where(finite, theta2 - theta1, 0.0)
        vv = np.where(finite, theta3 - 2 * theta2 + theta1, 0.0)
        nv = float(np.sqrt(np.sum(vv * vv)))
        alpha = -float(np.sqrt(np.sum(rr * rr))) / nv if nv > 0 else -1.0
        logq = theta3
        if alpha < -1.0:
            trial = np.where(finite, theta1 - 2 * alpha * rr + alpha * alpha * vv, theta3)
            trial = trial - logsumexp(trial)
            if _objective(op, trial, p, positive) < _objective(op, theta3, p, positive):
                logq = trial
    return logq, r_up, r_low, d_total, it, r_up - r_low, converged


def _objective(op: Any, logq: np.ndarray, p: np.ndarray, positive: np.ndarray) -> float:
    """The BA objective −Σ p·log Z(q) = min over channels of I + s·D (nats)."""
    return -float(np.sum(p[positive] * op.log_z(logq)[positive]))


def _solve_certified(
    op: Any,
    logq: np.ndarray,
    p: np.ndarray,
    logp: np.ndarray,
    positive: np.ndarray,
    s: float,
    tol_nats: float,
    max_iter: int,
) -> _Solved:
    """One slope by over-relaxed BA, stopped only on a certified gap F − F_low <
    ``tol_nats`` (F = I + s·D of the reported channel, F_low Blahut's or the
    :func:`_dual_bound`). Returns (log q, R_up, F_low − s·D, D_total, updates, F − F_low,
    converged), nats."""
    logz = op.log_z(logq)
    g = -float(np.sum(p[positive] * logz[positive]))  # BA objective of q (nats)
    alpha, it, converged, next_dual = 1.0, 0, False, 0
    f_hist: list[float] = []
    while True:
        w = np.where(positive, logp - logz, -np.inf)
        logc, d_total = op.log_c_and_distortion(w, logq, logz, logp)
        it += 1
        q_new = np.exp(logq + logc)
        ok = q_new > 0
        kl = float(np.sum(q_new[ok] * logc[ok]))  # KL(q·c ‖ q) >= 0
        f_up = g - kl  # I + s·D of the channel Q(y|x) = q(y)·e^{−s·d}/Z(x)
        f_low = g - float(np.max(logc))  # Blahut's bound
        f_hist.append(f_up)
        if (
            f_up - f_low >= tol_nats
            and it >= next_dual
            and _looks_converged(f_hist, 0.25 * tol_nats)
        ):
            f_low = max(f_low, _dual_bound(op, logz, logc, logp, positive, p, f_up - tol_nats))
            next_dual = it + max(8, it // 2)
        if f_up - f_low < tol_nats:
            converged = True
            break
        if it >= max_iter:
            break
        # over-relaxed BA step q ← q·c^α (Matz & Duhamel 2004) with adaptive α: a larger α
        # is kept only if it lowers the objective at least by KL(q·c ‖ q), the decrease
        # plain BA (α = 1) is guaranteed; else α = 1
        for a in (min(2 * alpha, _ALPHA_MAX), alpha, 1.0) if alpha > 1 else (2.0, 1.0):
            trial = logq + a * logc
            # a floor at e^-_FLOOR of the largest q(y) (far above the products' cut, mass
            # < 1e-100): keeps every Z(x) clear of underflow, so log Z never needs the slow
            # exact fallback; the floored q is the iterate, so F and its bounds stay exact
            trial = np.maximum(trial, float(np.max(trial)) - _FLOOR)
            trial = trial - logsumexp(trial)
            trial_z = op.log_z(trial)
            trial_g = -float(np.sum(p[positive] * trial_z[positive]))
            if a == 1.0 or trial_g <= g - kl:
                logq, logz, g, alpha = trial, trial_z, trial_g, a
                break
    return logq, f_up - s * d_total, f_low - s * d_total, d_total, it, f_up - f_low, converged


def _looks_converged(f_hist: list[float], tol_nats: float) -> bool:
    """Whether the objective's recent decrease, extrapolated geometrically, suggests the
    remaining decrease is below ``tol_nats``: only a trigger for the (costlier) dual bound,
    never a stopping rule by itself."""
    if len(f_hist) < 3:
        return False
    d_prev, d_last = abs(f_hist[-2] - f_hist[-3]), abs(f_hist[-1] - f_hist[-2])
    ratio = min(d_last / max(d_prev, 1e-300), 0.999)
    return d_last / (1 - ratio) < tol_nats


def _pmf(p: Any, name: str, ndim: int) -> np.ndarray:
    arr = float_array(p, name)
    if arr.ndim != ndim or arr.size == 0:
        raise InputError(name, f"must be a {ndim}-D array, got shape {arr.shape}")
    if (arr < 0).any() or arr.sum() <= 0:
        raise InputError(name, "must be non-negative with a positive sum")
    return arr / arr.sum()


def _grid(g: Any, name: str, size: int | None = None) -> np.ndarray:
    arr = float_array(g, name)
    if arr.ndim != 1 or arr.size < 2:
        raise InputError(name, "must be a 1-D array of at least two points")
    if size is not None and arr.size != size:
        raise InputError(name, f"has {arr.size} points but the density has {size}")
    return arr


def blahut_arimoto(
    p: Any,
    distortion_matrix: Any,
    slopes: Any,
    *,
    tol: float = 1e-4,
    max_iter: int = 10_000,
    q0: Any = None,
    on_cap: str = "raise",
    certify: bool = False,
) -> BAResult:
    """R(D) of a discrete source by BA, swept over ``slopes``.

    ``p``: source probabilities p(x_i), shape (N,); ``distortion_matrix``: d(x_i, y_j),
    shape (N, M), any non-negative distortion (e.g. Hamming, squared error);
    ``slopes``: s > 0 in nats per unit of distortion. Rates in bits per source symbol,
    distortion in the units of ``d``. See the module docstring for the stopping rule.
    """
    pm = _pmf(p, "p", 1)
    d = float_array(distortion_matrix, "distortion_matrix")
    if d.ndim != 2 or d.shape[0] != pm.size or d.shape[1] == 0:
        raise InputError("distortion_matrix", f"must have shape ({pm.size}, M), got {d.shape}")
    if (d < 0).any():
        raise InputError("distortion_matrix", "must be non-negative")
    _check_options(tol, max_iter, on_cap)
    return _sweep(_Dense(d, 1), pm, _check_slopes(slopes), q0, tol, max_iter, on_cap, certify)


def blahut_arimoto_grid(
    density: Any,
    grid: Any,
    slopes: Any,
    *,
    reproduction_grid: Any = None,
    tol: float = 1e-4,
    max_iter: int = 10_000,
    q0: Any = None,
    on_cap: str = "raise",
    certify: bool = False,
) -> BAResult:
    """R(D) under MSE of a 1-D continuous source given by its density on a uniform grid
    (or a histogram, see :func:`bin_samples`); the grid is the reproduction alphabet
    unless ``reproduction_grid`` is given. The source is the discrete distribution with
    p_i ∝ density(x_i), so results are those of that grid source (close to the
    continuous source when the grid is fine and wide). Rates in bits, distortion MSE."""
    g = _grid(grid, "grid")
    pm = _pmf(density, "density", 1)
    if pm.size != g.size:
        raise InputError("density", f"has {pm.size} values but grid has {g.size} points")
    r = g if reproduction_grid is None else _grid(reproduction_grid, "reproduction_grid")
    _check_options(tol, max_iter, on_cap)
    op = _Grid1D(g, r)
    return _sweep(op, pm, _check_slopes(slopes), q0, tol, max_iter, on_cap, certify)


def blahut_arimoto_grid_2d(
    density: Any,
    grid_x: Any,
    grid_y: Any,
    slopes: Any,
    *,
    reproduction_grid_x: Any = None,
    reproduction_grid_y: Any = None,
    tol: float = 1e-4,
    max_iter: int = 10_000,
    q0: Any = None,
    on_cap: str = "raise",
    certify: bool = False,
) -> BAResult:
    """R(D) under MSE of a 2-D source given by its density on the product grid
    ``grid_x × grid_y`` (``density[i, j]`` at (grid_x[i], grid_y[j])).

    Uses the separable kernel, so memory is O(Nx·Ny + Nx² + Ny²) and one iteration costs
    four (side × side) @ (side × side) products. ``slopes`` are in nats per unit of
    *total* squared error ||x − y||², so s = 1/(2·D_per_dim) for a Gaussian. Results: rate
    and distortion per dimension (= total / 2) plus the totals; ``tol`` applies per
    dimension."""
    gx, gy = _grid(grid_x, "grid_x"), _grid(grid_y, "grid_y")
    pm = _pmf(density, "density", 2)
    if pm.shape != (gx.size, gy.size):
        raise InputError("density", f"must have shape ({gx.size}, {gy.size}), got {pm.shape}")
    rx = gx if reproduction_grid_x is None else _grid(reproduction_grid_x, "reproduction_grid_x")
    ry = gy if reproduction_grid_y is None else _grid(reproduction_grid_y, "reproduction_grid_y")
    _check_options(tol, max_iter, on_cap)
    op = _Separable2D(gx, gy, rx, ry)
    return _sweep(op, pm, _check_slopes(slopes), q0, tol, max_iter, on_cap, certify)


def bin_samples(samples: Any, grid: Any) -> np.ndarray:
    """Histogram of 1-D ``samples`` on the cells centred at the uniform ``grid`` points
    (samples outside are clipped to the end cells): a pmf for :func:`blahut_arimoto_grid`."""
    x = float_array(samples, "samples").ravel()
    g = _grid(grid, "grid")
    step = g[1] - g[0]
    idx = np.clip(np.rint((x - g[0]) / step).astype(np.int64), 0, g.size - 1)
    return np.bincount(idx, minlength=g.size) / max(x.size, 1)
