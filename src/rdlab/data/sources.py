"""Synthetic sources with known (or computable) rate-distortion functions.

Every source draws ``sample(n, seed=...)`` -> (n, dim) float64 from
``numpy.random.default_rng(seed)`` (same seed, same samples) and answers
``rate_distortion(distortions) -> RDCurve``: R(D) in **bits per dimension** at the given
**MSE per dimension**, labelled with how it was obtained (``kind``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._arrays import float_array
from ..errors import InputError
from ..theory import closed_form as cf
from ..theory.blahut_arimoto import (
    blahut_arimoto_grid,
    blahut_arimoto_grid_2d,
    slopes_for_distortions,
)

__all__ = [
    "SOURCES",
    "AR1Source",
    "BananaSource",
    "Blocks",
    "CorrelatedGaussianSource",
    "GaussianSource",
    "LaplaceSource",
    "RDCurve",
    "Source",
    "make_source",
]

EXACT = "exact (closed form)"
SLB = "Shannon lower bound"


def _ba_kind(tol: float) -> str:
    return f"Blahut–Arimoto (numerical, tolerance {tol:g} bit)"


@dataclass(frozen=True)
class RDCurve:
    """R(D): ``rate`` in bits per dimension at ``distortion`` (MSE per dimension).
    ``rate_lower`` (BA curves only) is a certified lower bound on R at the same D."""

    distortion: np.ndarray
    rate: np.ndarray
    kind: str
    source: str
    rate_lower: np.ndarray | None = None


def _positive(value: Any, name: str) -> float:
    a = float_array(value, name)
    if a.ndim != 0 or not a > 0:
        raise InputError(name, f"must be a positive number, got {value!r}")
    return float(a)


def _dim(value: Any, name: str = "dim") -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InputError(name, f"must be a positive integer, got {value!r}")
    return int(value)


def _distortions(d: Any) -> np.ndarray:
    a = float_array(d, "distortions")
    if a.size == 0 or (a <= 0).any():
        raise InputError("distortions", "must be a non-empty array of positive MSE values")
    return a


class Source:
    """Base class: ``dim``, ``name``, ``variance`` (mean per dimension), ``sample``."""

    dim: int = 1
    name: str = "source"

    def _rng(self, n: Any, seed: Any) -> tuple[int, np.random.Generator]:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise InputError("n", f"must be a non-negative integer, got {n!r}")
        return int(n), np.random.default_rng(seed)

    def sample(self, n: int, seed: Any = None) -> np.ndarray:
        raise NotImplementedError

    def differential_entropy(self) -> float:
        """h(X) in bits per dimension."""
        raise NotImplementedError

    def shannon_lower_bound(self, distortions: Any) -> RDCurve:
        d = _distortions(distortions)
        return RDCurve(d, cf.shannon_lower_bound(self.differential_entropy(), d), SLB, self.name)

    def rate_distortion(self, distortions: Any) -> RDCurve:
        raise NotImplementedError


class GaussianSource(Source):
    """i.i.d. N(0, σ²) in ``dim`` dimensions."""

    def __init__(self, sigma: float = 1.0, dim: int = 1) -> None:
        self.sigma = _positive(sigma, "sigma")
        self.dim = _dim(dim)
        self.variance = self.sigma**2
        self.name = f"gaussian(sigma={self.sigma:g}, dim={self.dim})"

    def sample(self, n: int, seed: Any = None) -> np.ndarray:
        n, rng = self._rng(n, seed)
        return rng.normal(0.0, self.sigma, size=(n, self.dim))

    def differential_entropy(self) -> float:
        return cf.gaussian_differential_entropy(self.variance)

    def rate_distortion(self, distortions: Any) -> RDCurve:
        d = _distortions(distortions)
        return RDCurve(d, cf.gaussian_rd(d, self.variance), EXACT, self.name)


class LaplaceSource(Source):
    """i.i.d. Laplace(0, b) in ``dim`` dimensions: density exp(−|x|/b)/(2b), variance 2b²
    (default b = 1/√2: unit variance)."""

    def __init__(self, b: float = 2**-0.5, dim: int = 1) -> None:
        self.b = _positive(b, "b")
        self.dim = _dim(dim)
        self.variance = 2 * self.b**2
        self.name = f"laplace(b={self.b:g}, dim={self.dim})"

    def sample(self, n: int, seed: Any = None) -> np.ndarray:
        n, rng = self._rng(n, seed)
        return rng.laplace(0.0, self.b, size=(n, self.dim))

    def differential_entropy(self) -> float:
        return cf.laplace_differential_entropy(self.b)

    _cache: ClassVar[dict[tuple[float, float], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    def rate_distortion(self, distortions: Any, method: str = "ba", tol: float = 1e-4) -> RDCurve:
        """``method="slb"``: the Shannon lower bound; ``"ba"``: Blahut–Arimoto on a
        1,024-point grid over ±14b (cached per (b, tol)) at 14 slopes, interpolated to
        ``distortions`` (monotone cubic in log D), meant for D in [var·2^-8, var]."""
        if method == "slb":
            return self.shannon_lower_bound(distortions)
        if method != "ba":
            raise InputError("method", f"must be 'ba' or 'slb', got {method!r}")
        d = _distortions(distortions)
        key = (self.b, float(tol))
        if key not in self._cache:
            grid = np.linspace(-14 * self.b, 14 * self.b, 1024)
            density = np.exp(-np.abs(grid) / self.b)
            targets = self.variance * np.geomspace(2.0**-8, 0.9, 14)
            res = blahut_arimoto_grid(density, grid, slopes_for_distortions(targets)[::-1], tol=tol)
            order = np.argsort(res.distortion)
            self._cache[key] = (
                res.distortion[order],
                res.rate[order],
                res.rate_lower[order],
            )
        dd, rr, ll = self._cache[key]
        v = self.variance
        return RDCurve(d, _interp(d, dd, rr, v), _ba_kind(tol), self.name, _interp(d, dd, ll, v))


def _interp(d: np.ndarray, dd: np.ndarray, rr: np.ndarray, variance: float) -> np.ndarray:
    """Monotone cubic interpolation of R in log D through the computed points and
    (variance, 0) (R(D) = 0 for D >= variance); extrapolated below the first point."""
    from scipy.interpolate import PchipInterpolator

    keep = dd < variance
    x = np.concatenate((np.log(dd[keep]), [np.log(variance)]))
    y = np.concatenate((rr[keep], [0.0]))
    x, idx = np.unique(x, return_index=True)
    f = PchipInterpolator(x, y[idx], extrapolate=True)
    return np.where(d >= variance, 0.0, np.maximum(f(np.log(d)), 0.0))


class CorrelatedGaussianSource(Source):
    """Gaussian vectors N(0, Σ) for a given covariance Σ (dim × dim)."""

    def __init__(self, covariance: Any) -> None:
        cov = float_array(covariance, "covariance")
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
            raise InputError("covariance", f"must be a square matrix, got shape {cov.shape}")
        if not np.allclose(cov, cov.T):
            raise InputError("covariance", "must be symmetric")
        lam, vec = np.linalg.eigh(cov)
        if lam[0] < -1e-10 * max(1.0, lam[-1]):
            raise InputError("covariance", "must be positive semi-definite")
        self.covariance = cov
        self.dim = cov.shape[0]
        self.variance = float(np.trace(cov)) / self.dim
        self._factor = vec * np.sqrt(np.clip(lam, 0.0, None))
        self.name = f"correlated_gaussian(dim={self.dim})"

    def sample(self, n: int, seed: Any = None) -> np.ndarray:
        n, rng = self._rng(n, seed)
        return rng.standard_normal((n, self.dim)) @ self._factor.T

    def differential_entropy(self) -> float:
        sign, logdet = np.linalg.slogdet(self.covariance)
        if sign <= 0:
            return -np.inf
        return 0.5 * (np.log2(2 * np.pi * np.e) + logdet / np.log(2) / self.dim)

    def rate_distortion(self, distortions: Any) -> RDCurve:
        """Reverse water-filling over the covariance's eigenvalues (exact)."""
        d = _distortions(distortions)
        return RDCurve(d, cf.gaussian_vector_rd(self.covariance, d)[0], EXACT, self.name)


class AR1Source(CorrelatedGaussianSource):
    """Blocks of ``dim`` consecutive samples of a stationary Gaussian AR(1) process:
    x_t = ρ·x_{t−1} + σ·sqrt(1 − ρ²)·ε_t (marginal variance σ²); covariance σ²ρ^|i−j|."""

    def __init__(self, rho: float = 0.9, sigma: float = 1.0, dim: int = 2) -> None:
        r = float_array(rho, "rho")
        if r.ndim != 0 or not -1 < r < 1:
            raise InputError("rho", f"must be a number in (-1, 1), got {rho!r}")
        self.rho, self.sigma = float(r), _positive(sigma, "sigma")
        n = _dim(dim)
        idx = np.arange(n)
        super().__init__(self.sigma**2 * self.rho ** np.abs(idx[:, None] - idx[None, :]))
        self.name = f"ar1(rho={self.rho:g}, sigma={self.sigma:g}, dim={n})"


class BananaSource(Source):
    """A 2-D "banana": a Gaussian bent by a parabola, in the spirit of (not identical to)
    the banana source of Ballé et al., "Nonlinear Transform Coding" (IEEE JSTSP 2021):

        x1 ~ N(0, σ1²),   x2 = a·x1² + N(0, σ2²)        (defaults σ1 = 1, a = 0.25, σ2 = 0.3)

    Density f(x1, x2) = φ(x1; σ1)·φ(x2 − a·x1²; σ2); h(X) = ½·log2(2πeσ1²) +
    ½·log2(2πeσ2²) (the shear is volume-preserving). R(D) comes from 2-D Blahut–Arimoto on
    a grid of the closed-form density (cached per parameters and grid); see
    :meth:`rate_distortion`.
    """

    dim = 2
    _cache: ClassVar[dict[tuple[Any, ...], tuple[np.ndarray, ...]]] = {}

    def __init__(self, sigma1: float = 1.0, a: float = 0.25, sigma2: float = 0.3) -> None:
        self.sigma1 = _positive(sigma1, "sigma1")
        self.sigma2 = _positive(sigma2, "sigma2")
        a_ = float_array(a, "a")
        if a_.ndim != 0:
            raise InputError("a", "must be a number")
        self.a = float(a_)
        var2 = 2 * self.a**2 * self.sigma1**4 + self.sigma2**2
        self.variance = 0.5 * (self.sigma1**2 + var2)  # mean per dimension
        self.name = f"banana(sigma1={self.sigma1:g}, a={self.a:g}, sigma2={self.sigma2:g})"

    def sample(self, n: int, seed: Any = None) -> np.ndarray:
        n, rng = self._rng(n, seed)
        x1 = rng.normal(0.0, self.sigma1, size=n)
        x2 = self.a * x1 * x1 + rng.normal(0.0, self.sigma2, size=n)
        return np.stack((x1, x2), axis=1)

    def differential_entropy(self) -> float:
        return 0.5 * (
            cf.gaussian_differential_entropy(self.sigma1**2)
            + cf.gaussian_differential_entropy(self.sigma2**2)
        )

    def grid(self, side: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(grid_x1, grid_x2, density) on a side × side grid covering ±5σ1 and the
        parabola ± 5σ2 (mass outside < 1e-6)."""
        side = _dim(side, "side")
        h = 5.0 * self.sigma1
        top = abs(self.a) * h * h
        g1 = np.linspace(-h, h, side)
        lo, hi = (-top, 0.0) if self.a < 0 else (0.0, top)
        g2 = np.linspace(lo - 5 * self.sigma2, hi + 5 * self.sigma2, side)
        dens = np.exp(
            -0.5 * (g1[:, None] / self.sigma1) ** 2
            - 0.5 * ((g2[None, :] - self.a * g1[:, None] ** 2) / self.sigma2) ** 2
        )
        return g1, g2, dens

    def blahut_arimoto(
        self, side: int, points: int, *, tol: float, max_iter: int
    ) -> tuple[Any, int]:
        """2-D BA on a ``side``² grid of the density at ``points`` slopes aimed at MSE/dim
        from 0.01 to 0.9·variance, highest rate first, each slope warm-started from the
        previous one's q(y): q only has to shrink onto the lower-rate support (fast), never
        regrow from e^-600 where a low-rate q had left the tails empty (slow, and such
        q makes Z(x) underflow and forces the exact log-domain fallback). Runs BA in its
        certified mode: a slope converges only when a dual lower bound proves its objective
        F = R + s·D within ``tol`` (bits per dimension) of the optimum at that slope, so
        the point lies within ``tol`` of the grid source's R(D) curve (``res.gap`` gives
        the proven F − F_low per slope). Returns the
        :class:`~rdlab.theory.blahut_arimoto.BAResult` and how many slopes stopped at the
        ``max_iter`` cap without that certificate."""
        g1, g2, dens = self.grid(side)
        targets = np.geomspace(0.01, 0.9 * self.variance, points)
        with warnings.catch_warnings(record=True) as capped:
            warnings.simplefilter("always", RuntimeWarning)
            res = blahut_arimoto_grid_2d(
                dens,
                g1,
                g2,
                slopes_for_distortions(targets),
                tol=tol,
                max_iter=max_iter,
                on_cap="warn",
                certify=True,
            )
        return res, len(capped)

    def rate_distortion(
        self,
        distortions: Any,
        *,
        side: int = 64,
        points: int = 10,
        tol: float = 1e-3,
        max_iter: int = 60,
    ) -> RDCurve:
        """:meth:`blahut_arimoto` on a ``side``² grid at ``points`` slopes, interpolated
        (monotone cubic in log D) to ``distortions``. Each slope is capped at ``max_iter``
        updates; a slope that reaches the cap is kept but is not certified within ``tol``.
        ``rate_lower`` carries the certified lower bound of each computed point (R_up
        minus its gap)."""
        d = _distortions(distortions)
        key = (self.sigma1, self.a, self.sigma2, side, points, tol, max_iter)
        if key not in self._cache:
            res, _capped = self.blahut_arimoto(side, points, tol=tol, max_iter=max_iter)
            order = np.argsort(res.distortion)
            self._cache[key] = (res.distortion[order], res.rate[order], res.rate_lower[order])
        dd, rr, ll = self._cache[key]
        kind = (
            f"Blahut–Arimoto (numerical, {side}x{side} grid, certified tolerance {tol:g} bit "
            f"or {max_iter} iterations per slope)"
        )
        v = self.variance
        return RDCurve(d, _interp(d, dd, rr, v), kind, self.name, _interp(d, dd, ll, v))


class Blocks(Source):
    """i.i.d. blocks of ``n`` independent draws of a vector ``source``: dimension
    n·source.dim. R(D) per dimension equals the source's (independent copies)."""

    def __init__(self, source: Source, n: int) -> None:
        if not isinstance(source, Source):
            raise InputError("source", f"must be a Source, got {type(source).__name__}")
        self.source = source
        self.n = _dim(n, "n")
        self.dim = self.n * source.dim
        self.variance = source.variance
        self.name = f"blocks({source.name}, n={self.n})"

    def sample(self, n: int, seed: Any = None) -> np.ndarray:
        count, _ = self._rng(n, None)
        x = self.source.sample(count * self.n, seed=seed)
        return x.reshape(count, self.dim)

    def differential_entropy(self) -> float:
        return self.source.differential_entropy()

    def rate_distortion(self, distortions: Any) -> RDCurve:
        curve = self.source.rate_distortion(distortions)
        return RDCurve(curve.distortion, curve.rate, curve.kind, self.name, curve.rate_lower)


#: names accepted by :func:`make_source` (and the CLI)
SOURCES = ("gaussian", "laplace", "banana", "ar1")


def make_source(name: str, dim: int | None, rho: float) -> Source:
    """The synthetic source called ``name`` (see :data:`SOURCES`)."""
    if name == "gaussian":
        return GaussianSource(1.0, dim or 1)
    if name == "laplace":
        return LaplaceSource(2**-0.5, dim or 1)
    if name == "banana":
        if dim not in (None, 2):
            raise InputError("--dim", "the banana source is 2-D")
        return BananaSource()
    if name == "ar1":
        return AR1Source(rho, 1.0, dim or 2)
    raise InputError("source", f"must be one of {', '.join(SOURCES)}, got {name!r}")
