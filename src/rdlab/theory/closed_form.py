"""Closed-form rate-distortion functions and the Shannon lower bound.

Units: rates in **bits per dimension** (per source symbol for scalar sources),
distortion is the **mean squared error per dimension** (Hamming distortion for the
binary source). Every function is vectorized over its distortion (or rate) argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import toeplitz

from .._arrays import float_array
from ..errors import InputError

__all__ = [
    "ar1_eigenvalues",
    "ar1_rd",
    "ar1_spectral_density",
    "binary_entropy",
    "binary_rd",
    "gaussian_differential_entropy",
    "gaussian_dr",
    "gaussian_rd",
    "gaussian_vector_rd",
    "laplace_differential_entropy",
    "reverse_water_filling",
    "shannon_lower_bound",
    "slb_gaussian",
    "slb_laplace",
    "slb_uniform",
    "uniform_differential_entropy",
]

_LOG2_2PIE = float(np.log2(2 * np.pi * np.e))


def _positive_scalar(value: Any, name: str) -> float:
    array = float_array(value, name)
    if array.ndim != 0 or not array > 0:
        raise InputError(name, f"must be a positive finite number, got {value!r}")
    return float(array)


def _distortions(value: Any, name: str = "distortion") -> np.ndarray:
    array = float_array(value, name)
    if array.size and (array <= 0).any():
        raise InputError(name, "must be positive")
    return array


def gaussian_rd(distortion: Any, variance: float = 1.0) -> np.ndarray:
    """R(D) = max(0, ½·log2(σ²/D)) bits of the scalar Gaussian N(0, σ²) under MSE."""
    var = _positive_scalar(variance, "variance")
    d = _distortions(distortion)
    return np.maximum(0.0, 0.5 * np.log2(var / d))


def gaussian_dr(rate: Any, variance: float = 1.0) -> np.ndarray:
    """D(R) = σ²·2^(−2R) (MSE) of the scalar Gaussian N(0, σ²); ``rate`` in bits >= 0."""
    var = _positive_scalar(variance, "variance")
    r = float_array(rate, "rate")
    if r.size and (r < 0).any():
        raise InputError("rate", "must be non-negative")
    return var * np.exp2(-2.0 * r)


def reverse_water_filling(eigenvalues: Any, distortion: Any) -> tuple[np.ndarray, np.ndarray]:
    """Reverse water-filling over independent Gaussian components.

    ``eigenvalues``: the component variances (eigenvalues of a covariance), shape (n,).
    ``distortion``: target MSE **per dimension** (mean over the n components), any shape.
    Returns ``(rate, water_level)``: the rate in bits per dimension,
    (1/n)·Σ ½·log2(λ_i / min(θ, λ_i)), and the water level θ with
    (1/n)·Σ min(θ, λ_i) = D. For D at or above the mean variance, R = 0 and θ = max λ.
    """
    lam = float_array(eigenvalues, "eigenvalues")
    if lam.ndim != 1 or lam.size == 0:
        raise InputError("eigenvalues", "must be a non-empty 1-D array")
    if (lam < -1e-12 * max(1.0, float(np.abs(lam).max()))).any():
        raise InputError("eigenvalues", "must be non-negative (a covariance's eigenvalues)")
    lam = np.sort(np.clip(lam, 0.0, None))
    d = _distortions(distortion)
    n = lam.size
    # f(θ) = mean(min(θ, λ)) is piecewise linear and increasing in θ with kinks at λ_i
    below = np.concatenate(([0.0], np.cumsum(lam)))[:-1]  # Σ_{k<i} λ_k
    f_at = (below + lam * (n - np.arange(n))) / n
    theta = np.interp(d, np.concatenate(([0.0], f_at)), np.concatenate(([0.0], lam)))
    theta = np.where(d >= lam.mean(), lam[-1], theta)
    ratio = np.where(lam > 0, lam / np.maximum(np.minimum(theta[..., None], lam), 1e-300), 1.0)
    rate = 0.5 * np.log2(np.maximum(ratio, 1.0)).mean(axis=-1)
    return rate, theta


def gaussian_vector_rd(covariance: Any, distortion: Any) -> tuple[np.ndarray, np.ndarray]:
    """R(D) of a Gaussian vector N(0, Σ) under MSE per dimension, by reverse
    water-filling over the eigenvalues of Σ. Returns (rate in bits/dim, water level)."""
    cov = float_array(covariance, "covariance")
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
        raise InputError("covariance", f"must be a square matrix, got shape {cov.shape}")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise InputError("covariance", "must be symmetric")
    lam = np.linalg.eigvalsh(cov)
    if lam[0] < -1e-10 * max(1.0, lam[-1]):
        raise InputError("covariance", "must be positive semi-definite")
    return reverse_water_filling(np.clip(lam, 0, None), distortion)


def _rho(rho: Any) -> float:
    r = float_array(rho, "rho")
    if r.ndim != 0 or not -1 < r < 1:
        raise InputError("rho", f"must be a number in (-1, 1), got {rho!r}")
    return float(r)


def ar1_eigenvalues(rho: float, variance: float, n: int) -> np.ndarray:
    """Eigenvalues of the covariance σ²·ρ^|i−j| of n consecutive samples of a stationary
    Gaussian AR(1) process (marginal variance σ²)."""
    r, var = _rho(rho), _positive_scalar(variance, "variance")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError("n", f"must be a positive integer, got {n!r}")
    return np.linalg.eigvalsh(toeplitz(var * r ** np.arange(n)))


def ar1_spectral_density(omega: Any, rho: float, variance: float = 1.0) -> np.ndarray:
    """Power spectral density S(ω) = σ²(1−ρ²)/(1 − 2ρ·cos ω + ρ²) of the AR(1) process."""
    r, var = _rho(rho), _positive_scalar(variance, "variance")
    w = float_array(omega, "omega")
    return var * (1 - r * r) / (1 - 2 * r * np.cos(w) + r * r)


def ar1_rd(distortion: Any, rho: float, variance: float = 1.0, n: int | None = None) -> np.ndarray:
    """R(D) in bits per sample of a stationary Gaussian AR(1) process under MSE per sample.

    With ``n``: blocks of n samples (water-filling over the n×n covariance's eigenvalues).
    Without: the n → ∞ limit, water-filling over the spectral density
    (Kolmogorov/Szegő), evaluated numerically on 8,192 midpoint frequencies in [−π, π).
    """
    if n is not None:
        return reverse_water_filling(ar1_eigenvalues(rho, variance, n), distortion)[0]
    m = 8192
    omega = -np.pi + (np.arange(m) + 0.5) * (2 * np.pi / m)
    return reverse_water_filling(ar1_spectral_density(omega, rho, variance), distortion)[0]


def binary_entropy(p: Any) -> np.ndarray:
    """h(p) = −p·log2 p − (1−p)·log2(1−p) in bits (h(0) = h(1) = 0)."""
    q = float_array(p, "p")
    if q.size and ((q < 0) | (q > 1)).any():
        raise InputError("p", "must lie in [0, 1]")
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(q * np.log2(q) + (1 - q) * np.log2(1 - q))
    return np.where((q == 0) | (q == 1), 0.0, h)


def binary_rd(distortion: Any, p: float) -> np.ndarray:
    """R(D) = h(p) − h(D) bits for D < min(p, 1−p), else 0: Bernoulli(p) source under
    Hamming distortion (D = probability of a bit error)."""
    q = float_array(p, "p")
    if q.ndim != 0 or not 0 <= q <= 1:
        raise InputError("p", f"must be a probability, got {p!r}")
    d = float_array(distortion, "distortion")
    if d.size and ((d < 0) | (d > 1)).any():
        raise InputError("distortion", "must lie in [0, 1] (a bit-error probability)")
    pm = min(float(q), 1 - float(q))
    return np.where(d < pm, binary_entropy(q) - binary_entropy(np.minimum(d, 0.5)), 0.0)


def gaussian_differential_entropy(variance: float = 1.0) -> float:
    """h(N(0, σ²)) = ½·log2(2πe·σ²) bits."""
    return 0.5 * (_LOG2_2PIE + float(np.log2(_positive_scalar(variance, "variance"))))


def laplace_differential_entropy(scale: float) -> float:
    """h(Laplace(b)) = log2(2e·b) bits (density exp(−|x|/b)/(2b), variance 2b²)."""
    return float(np.log2(2 * np.e * _positive_scalar(scale, "scale")))


def uniform_differential_entropy(width: float) -> float:
    """h(U[a, a+w]) = log2(w) bits."""
    return float(np.log2(_positive_scalar(width, "width")))


def shannon_lower_bound(differential_entropy_bits: float, distortion: Any) -> np.ndarray:
    """R_SLB(D) = h(X) − ½·log2(2πe·D) bits per dimension, clipped at 0.

    ``differential_entropy_bits``: h(X) per dimension in bits; ``distortion``: MSE per
    dimension. A lower bound on R(D) for every source with that differential entropy,
    tight as D → 0 for sources with a finite-variance smooth density.
    """
    h = float_array(differential_entropy_bits, "differential_entropy_bits")
    if h.ndim != 0:
        raise InputError("differential_entropy_bits", "must be a number")
    d = _distortions(distortion)
    return np.maximum(0.0, float(h) - 0.5 * (_LOG2_2PIE + np.log2(d)))


def slb_gaussian(distortion: Any, variance: float = 1.0) -> np.ndarray:
    """Shannon lower bound of N(0, σ²); equals R(D) exactly."""
    return shannon_lower_bound(gaussian_differential_entropy(variance), distortion)


def slb_laplace(distortion: Any, scale: float = 2**-0.5) -> np.ndarray:
    """Shannon lower bound of the Laplace source with scale b (variance 2b²)."""
    return shannon_lower_bound(laplace_differential_entropy(scale), distortion)


def slb_uniform(distortion: Any, width: float = 1.0) -> np.ndarray:
    """Shannon lower bound of the uniform source of the given width (variance w²/12)."""
    return shannon_lower_bound(uniform_differential_entropy(width), distortion)
