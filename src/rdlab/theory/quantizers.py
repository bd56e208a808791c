"""Practical baselines: scalar and vector quantizers with entropy-coded indices.

Each quantizer is designed on training samples (optionally weighted: a fine grid with
density weights turns every sample average into a numerical integral against the
density) and reports

- ``rate``: the entropy of the quantizer index in **bits per dimension** under the
  evaluation distribution (the training samples unless ``test``/``test_weights`` are
  given), i.e. the ideal entropy-coded rate;
- ``distortion``: the **MSE per dimension** under the same distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._arrays import float_array
from ..errors import InputError

__all__ = [
    "QuantizerPoint",
    "ecsq",
    "ecsq_sweep",
    "ecvq",
    "ecvq_sweep",
    "uniform_scalar_quantizer",
]

_LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class QuantizerPoint:
    """One operating point: rate (bits/dim), distortion (MSE/dim), the codebook
    (K, dim), the codelengths −log2 p_i (bits per vector) and the design parameter
    (``step`` for the uniform quantizer, ``lam`` for ECSQ/ECVQ, in MSE per bit per dim)."""

    rate: float
    distortion: float
    codebook: np.ndarray
    codelengths: np.ndarray
    parameter: float


def _samples(x: Any, name: str, dim: int | None = None) -> np.ndarray:
    a = float_array(x, name)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 2:
        raise InputError(name, f"must be an (N, dim) array with N >= 2, got shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise InputError(name, f"must have {dim} column(s), got {a.shape[1]}")
    return a


def _weights(w: Any, n: int, name: str) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n)
    a = float_array(w, name)
    if a.shape != (n,) or (a < 0).any() or a.sum() <= 0:
        raise InputError(name, f"must be {n} non-negative weights with a positive sum")
    return a / a.sum()


def _entropy_bits(weights: np.ndarray, index: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    prob = np.bincount(index, weights=weights, minlength=k)
    nz = prob > 0
    return float(-np.sum(prob[nz] * np.log2(prob[nz]))), prob


def _positive(value: Any, name: str) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or not value > 0:
        raise InputError(name, f"must be a positive number, got {value!r}")
    return float(value)


def _deadzone_index(x: np.ndarray, step: float, rounding: float) -> np.ndarray:
    return (np.sign(x) * np.floor(np.abs(x) / step + rounding)).astype(np.int64)


def _centroids(x: np.ndarray, w: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compact the index set and return (dense index, weighted centroids)."""
    uniq, dense = np.unique(idx, return_inverse=True)
    mass = np.bincount(dense, weights=w, minlength=uniq.size)
    cent = np.bincount(dense, weights=w * x, minlength=uniq.size) / np.maximum(mass, 1e-300)
    return dense, cent


def uniform_scalar_quantizer(
    samples: Any,
    step: float,
    *,
    weights: Any = None,
    rounding: Any = None,
    test: Any = None,
    test_weights: Any = None,
) -> QuantizerPoint:
    """Uniform scalar quantizer with a deadzone: index = sign(x)·⌊|x|/Δ + ρ⌋.

    ρ = ½ is plain rounding; ρ < ½ widens the zero cell (deadzone). Reconstructions are
    the centroids of the cells (training distribution). ρ is tuned per step over
    ``rounding`` (default 0.05..0.5) to minimize D + λ·R with the high-rate slope
    λ = 2·ln2·Δ²/12 (MSE per bit). 1-D samples only (a (N,) or (N, 1) array).
    """
    x = _samples(samples, "samples", 1)[:, 0]
    w = _weights(weights, x.size, "weights")
    step = _positive(step, "step")
    grid = np.linspace(0.05, 0.5, 19) if rounding is None else np.atleast_1d(rounding)
    if ((grid <= 0) | (grid > 0.5)).any():
        raise InputError("rounding", "offsets must lie in (0, 0.5]")
    lam = 2 * _LN2 * step * step / 12
    best: tuple[float, float] | None = None
    for rho in grid:
        idx = _deadzone_index(x, step, float(rho))
        dense, cent = _centroids(x, w, idx)
        dist = float(np.sum(w * (x - cent[dense]) ** 2))
        rate, _ = _entropy_bits(w, dense, cent.size)
        if best is None or dist + lam * rate < best[0]:
            best = (dist + lam * rate, float(rho))
    rho = best[1]  # type: ignore[index]
    idx = _deadzone_index(x, step, rho)
    uniq, dense = np.unique(idx, return_inverse=True)
    mass = np.bincount(dense, weights=w, minlength=uniq.size)
    cent = np.bincount(dense, weights=w * x, minlength=uniq.size) / np.maximum(mass, 1e-300)
    if test is None:
        xe, we, de = x, w, dense
    else:
        xe = _samples(test, "test", 1)[:, 0]
        we = _weights(test_weights, xe.size, "test_weights")
        de = np.searchsorted(uniq, np.clip(_deadzone_index(xe, step, rho), uniq[0], uniq[-1]))
        de = np.minimum(de, uniq.size - 1)
    rate, _ = _entropy_bits(we, de, uniq.size)
    dist = float(np.sum(we * (xe - cent[de]) ** 2))
    with np.errstate(divide="ignore"):
        lengths = -np.log2(mass)
    return QuantizerPoint(rate, dist, cent[:, None], lengths, step)


def _assign(x: np.ndarray, codebook: np.ndarray, lengths: np.ndarray, lam: float) -> np.ndarray:
    """argmin_i ||x − c_i||² + λ·dim·ℓ_i (ℓ in bits per vector; λ per dim), in chunks."""
    dim = x.shape[1]
    out = np.empty(x.shape[0], dtype=np.int64)
    cn = np.sum(codebook * codebook, axis=1) + lam * dim * lengths
    chunk = max(1, 4_000_000 // max(codebook.shape[0], 1))
    for start in range(0, x.shape[0], chunk):
        xs = x[start : start + chunk]
        cost = cn[None, :] - 2.0 * xs @ codebook.T
        out[start : start + chunk] = np.argmin(cost, axis=1)
    return out


def _lloyd(
    x: np.ndarray,
    w: np.ndarray,
    codebook: np.ndarray,
    lam: float,
    iterations: int,
    rtol: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray]:
    """Chou–Lookabaugh–Gray iterations: assign by D + λR, move codewords to centroids,
    set codelengths to −log2 of the cell masses, drop empty cells."""
    dim = x.shape[1]
    lengths = np.full(codebook.shape[0], np.log2(codebook.shape[0]))
    previous = np.inf
    for _ in range(iterations):
        idx = _assign(x, codebook, lengths, lam)
        mass = np.bincount(idx, weights=w, minlength=codebook.shape[0])
        keep = mass > 0
        sums = np.stack(
            [
                np.bincount(idx, weights=w * x[:, j], minlength=codebook.shape[0])
                for j in range(dim)
            ],
            axis=1,
        )
        codebook = sums[keep] / mass[keep, None]
        lengths = -np.log2(mass[keep])
        remap = np.cumsum(keep) - 1
        idx = remap[idx]
        cost = (
            float(np.sum(w * np.sum((x - codebook[idx]) ** 2, axis=1))) / dim
            + lam * float(np.sum(mass[keep] * lengths)) / dim
        )
        if previous - cost <= rtol * abs(cost):
            break
        previous = cost
    return codebook, lengths


def _evaluate(
    x: np.ndarray, w: np.ndarray, codebook: np.ndarray, lengths: np.ndarray, lam: float
) -> tuple[float, float]:
    dim = x.shape[1]
    idx = _assign(x, codebook, lengths, lam)
    rate, _ = _entropy_bits(w, idx, codebook.shape[0])
    dist = float(np.sum(w * np.sum((x - codebook[idx]) ** 2, axis=1)))
    return rate / dim, dist / dim


def ecsq(
    samples: Any,
    lam: float,
    *,
    weights: Any = None,
    iterations: int = 100,
    test: Any = None,
    test_weights: Any = None,
) -> QuantizerPoint:
    """Entropy-constrained scalar quantizer (Chou, Lookabaugh & Gray 1989).

    Lloyd-style iterations minimizing D + λ·R (D in MSE, R in bits, so λ is MSE per bit)
    with codelengths −log2 p_i, started from a uniform codebook with the high-rate step
    Δ = sqrt(6λ/ln2) covering the samples. 1-D samples only.
    """
    x = _samples(samples, "samples", 1)
    w = _weights(weights, x.shape[0], "weights")
    lam = _positive(lam, "lam")
    step = float(np.sqrt(6 * lam / _LN2))
    lo, hi = float(x.min()), float(x.max())
    count = int(np.ceil((hi - lo) / step)) + 1
    if count > 20_000:
        raise InputError("lam", f"is too small for these samples ({count} initial levels)")
    centre = 0.5 * (lo + hi)
    start = centre + step * (np.arange(count) - (count - 1) / 2)
    codebook, lengths = _lloyd(x, w, start[:, None], lam, iterations)
    xe, we = _eval_set(x, w, test, test_weights, 1)
    rate, dist = _evaluate(xe, we, codebook, lengths, lam)
    return QuantizerPoint(rate, dist, codebook, lengths, lam)


def _eval_set(x, w, test, test_weights, dim):
    if test is None:
        return x, w
    xe = _samples(test, "test", dim)
    return xe, _weights(test_weights, xe.shape[0], "test_weights")


def ecvq(
    samples: Any,
    lam: float,
    *,
    codewords: int = 256,
    weights: Any = None,
    iterations: int = 60,
    seed: int = 0,
    test: Any = None,
    test_weights: Any = None,
) -> QuantizerPoint:
    """Entropy-constrained vector quantizer (Chou, Lookabaugh & Gray 1989) for (N, n)
    samples, n in 1..4: k-means whose assignment cost is ||x − c_i||² + λ·n·(−log2 p_i),
    i.e. D + λ·R per dimension. Starts from ``codewords`` samples drawn with ``seed``;
    cells that empty out are dropped. Rate in bits/dim, MSE/dim."""
    x = _samples(samples, "samples")
    if not 1 <= x.shape[1] <= 4:
        raise InputError("samples", f"ECVQ is for 1 to 4 dimensions, got {x.shape[1]}")
    w = _weights(weights, x.shape[0], "weights")
    lam = _positive(lam, "lam")
    if not isinstance(codewords, (int, np.integer)) or not 1 <= codewords <= 4096:
        raise InputError("codewords", f"must be an integer in [1, 4096], got {codewords!r}")
    rng = np.random.default_rng(seed)
    start = x[rng.choice(x.shape[0], size=min(codewords, x.shape[0]), replace=False, p=w)]
    codebook, lengths = _lloyd(x, w, start.copy(), lam, iterations)
    xe, we = _eval_set(x, w, test, test_weights, x.shape[1])
    rate, dist = _evaluate(xe, we, codebook, lengths, lam)
    return QuantizerPoint(rate, dist, codebook, lengths, lam)


def ecsq_sweep(samples: Any, lams: Any, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """(rate bits/dim, MSE/dim) arrays of :func:`ecsq` over the multipliers ``lams``."""
    pts = [ecsq(samples, float(lam), **options) for lam in np.atleast_1d(lams)]
    return np.array([p.rate for p in pts]), np.array([p.distortion for p in pts])


def ecvq_sweep(samples: Any, lams: Any, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """(rate bits/dim, MSE/dim) arrays of :func:`ecvq` over the multipliers ``lams``."""
    pts = [ecvq(samples, float(lam), **options) for lam in np.atleast_1d(lams)]
    return np.array([p.rate for p in pts]), np.array([p.distortion for p in pts])
