"""Targets and proposals for relative entropy coding, and their divergences.

Every distribution maps **open uniforms** (values in (0, 1), as drawn by
:func:`rdlab.rng.open_uniform_rows`) to samples with rdlab's bit-reproducible functions
(:mod:`rdlab.detmath`), so a decoder regenerates exactly the encoder's candidates.

- :class:`Gaussian`: diagonal Gaussian in ``dim`` dimensions (``mean``, ``std`` float64
  arrays of shape ``(dim,)``); the usual target and proposal.
- :class:`Uniform` and :class:`Triangular`: one-dimensional, for the closed-form
  triangular-target / uniform-proposal pair.

Divergences (:func:`kl_bits`, :func:`dinf_bits`) are in **bits**; log densities and log
density ratios (:func:`log_ratio`) are in **nats**. Shapes: a batch of points is an
array ``(..., dim)``; log densities come back with shape ``(...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import detmath
from ..errors import InputError

__all__ = [
    "Distribution",
    "Gaussian",
    "Triangular",
    "Uniform",
    "dinf_bits",
    "kl_bits",
    "log_ratio",
    "log_ratio_max",
]

_LOG2E = 1.0 / math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _vector(value: Any, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(name, f"must be a scalar or a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(name, "must be finite")
    return arr


@dataclass(frozen=True, eq=False)
class Gaussian:
    """Diagonal Gaussian N(mean, diag(std**2)); ``mean`` and ``std`` have shape (dim,)."""

    mean: np.ndarray
    std: np.ndarray

    def __init__(self, mean: Any, std: Any) -> None:
        m = _vector(mean, "mean")
        s = _vector(std, "std")
        if s.size == 1 and m.size > 1:
            s = np.full_like(m, s[0])
        if m.size == 1 and s.size > 1:
            m = np.full_like(s, m[0])
        if m.shape != s.shape:
            raise InputError("std", f"has shape {s.shape}, mean has {m.shape}")
        if (s <= 0).any():
            raise InputError("std", "must be > 0")
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "std", s)

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    def log_prob(self, x: Any) -> np.ndarray:
        """log density in nats at points ``x`` of shape (..., dim)."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.std
        return np.sum(-0.5 * z * z - np.log(self.std) - _HALF_LOG_2PI, axis=-1)

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """Samples from open uniforms ``u`` (..., dim): mean + std * Phi^-1(u), bit-exact."""
        return self.mean + self.std * detmath.normal_ppf(u)

    def __repr__(self) -> str:
        return f"Gaussian(mean={self.mean.tolist()}, std={self.std.tolist()})"


@dataclass(frozen=True)
class Uniform:
    """Uniform on [low, high] (one dimension)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise InputError("high", f"need finite low < high, got [{self.low}, {self.high}]")

    @property
    def dim(self) -> int:
        return 1

    @property
    def width(self) -> float:
        return self.high - self.low

    def log_prob(self, x: Any) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64)[..., 0]
        inside = (v >= self.low) & (v <= self.high)
        return np.where(inside, -math.log(self.width), -np.inf)

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        return self.low + self.width * np.asarray(u, dtype=np.float64)


@dataclass(frozen=True)
class Triangular:
    """Triangular density on [low, high] with its peak at ``mode`` (one dimension)."""

    low: float
    mode: float
    high: float

    def __post_init__(self) -> None:
        vals = (self.low, self.mode, self.high)
        if not all(math.isfinite(v) for v in vals) or not self.low <= self.mode <= self.high:
            raise InputError("mode", f"need finite low <= mode <= high, got {vals}")
        if not self.low < self.high:
            raise InputError("high", "must be > low")

    @property
    def dim(self) -> int:
        return 1

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def peak(self) -> float:
        """The density at the mode, 2 / width."""
        return 2.0 / self.width

    def density(self, x: Any) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64)[..., 0]
        left = np.where(
            self.mode > self.low, (v - self.low) / max(self.mode - self.low, 1e-300), 1.0
        )
        right = np.where(
            self.high > self.mode, (self.high - v) / max(self.high - self.mode, 1e-300), 1.0
        )
        rising = np.where(v <= self.mode, left, right)
        return np.where((v >= self.low) & (v <= self.high), self.peak * np.clip(rising, 0, 1), 0.0)

    def log_prob(self, x: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.density(x))

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF (two square-root branches), bit-exact (IEEE sqrt)."""
        u = np.asarray(u, dtype=np.float64)
        c = (self.mode - self.low) / self.width
        left = self.low + np.sqrt(u * self.width * (self.mode - self.low))
        right = self.high - np.sqrt((1.0 - u) * self.width * (self.high - self.mode))
        return np.where(u < c, left, right)


Distribution = Gaussian | Uniform | Triangular


def _same_dim(target: Distribution, proposal: Distribution) -> None:
    if target.dim != proposal.dim:
        raise InputError("target", f"has {target.dim} dimensions, the proposal {proposal.dim}")


def log_ratio(target: Distribution, proposal: Distribution, x: Any) -> np.ndarray:
    """log dQ/dP at points ``x`` (..., dim), in nats (-inf outside Q's support)."""
    _same_dim(target, proposal)
    with np.errstate(invalid="ignore"):
        out = target.log_prob(x) - proposal.log_prob(x)
    return np.where(np.isnan(out), -np.inf, out)


def _gaussian_terms(q: Gaussian, p: Gaussian) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension KL (nats) and sup log-ratio (nats, inf where unbounded)."""
    rho2 = (q.std / p.std) ** 2
    delta2 = ((q.mean - p.mean) / p.std) ** 2
    kl = 0.5 * (rho2 + delta2 - 1.0 - np.log(rho2))
    with np.errstate(divide="ignore"):
        sup = np.where(
            rho2 < 1.0,
            -0.5 * np.log(rho2) + 0.5 * delta2 / np.where(rho2 < 1.0, 1.0 - rho2, 1.0),
            np.where((rho2 == 1.0) & (delta2 == 0.0), 0.0, np.inf),
        )
    return kl, sup


def kl_bits(target: Distribution, proposal: Distribution) -> float:
    """D_KL(Q || P) in bits (inf if Q is not absolutely continuous w.r.t. P)."""
    _same_dim(target, proposal)
    if isinstance(target, Gaussian) and isinstance(proposal, Gaussian):
        return float(np.sum(_gaussian_terms(target, proposal)[0]) * _LOG2E)
    if isinstance(proposal, Uniform) and isinstance(target, (Uniform, Triangular)):
        if target.low < proposal.low or target.high > proposal.high:
            return math.inf
        # E_Q[log q] in nats: -log W_q for a uniform, log(2 / W_q) - 1/2 for a triangle
        entropy_gap = math.log(2.0) - 0.5 if isinstance(target, Triangular) else 0.0
        return (entropy_gap + math.log(proposal.width / target.width)) * _LOG2E
    raise InputError(
        "target", f"no closed-form KL for {type(target).__name__} vs {type(proposal).__name__}"
    )


def log_ratio_max(target: Distribution, proposal: Distribution) -> float:
    """sup_x log dQ/dP(x) in nats (D_inf in nats); inf when the ratio is unbounded."""
    _same_dim(target, proposal)
    if isinstance(target, Gaussian) and isinstance(proposal, Gaussian):
        return float(np.sum(_gaussian_terms(target, proposal)[1]))
    if isinstance(proposal, Uniform) and isinstance(target, (Uniform, Triangular)):
        if target.low < proposal.low or target.high > proposal.high:
            return math.inf
        peak = target.peak if isinstance(target, Triangular) else 1.0 / target.width
        return math.log(peak * proposal.width)
    raise InputError(
        "target", f"no closed-form D_inf for {type(target).__name__} vs {type(proposal).__name__}"
    )


def dinf_bits(target: Distribution, proposal: Distribution) -> float:
    """Renyi infinity divergence log2 sup dQ/dP in bits (inf when unbounded)."""
    return log_ratio_max(target, proposal) * _LOG2E
