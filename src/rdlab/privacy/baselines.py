"""The common practice that private compression is measured against.

Both are distributed-mean-estimation protocols: n clients hold vectors in the L2 ball of
radius C; the server outputs an estimate of their mean. Bits are per client.

- :func:`csgm_round`: the coordinate-subsampled Gaussian mechanism (CSGM; Chen, Song,
  Özgür & Kairouz, NeurIPS 2023). Each client keeps each coordinate independently with
  probability γ (the selection comes from shared randomness, so it costs no bits) and
  sends the kept coordinates as 32-bit floats (``32 γ d`` bits on average); the server
  adds ``N(0, σ²)`` to each coordinate of the sum and divides by ``n γ``. Its central
  guarantee is accounted as a Poisson-subsampled Gaussian of rate γ and noise multiplier
  ``σ / C`` (add/remove-one-client), as in the CSGM analysis
  (:func:`csgm_noise`, through :func:`rdlab.privacy.accounting.calibrate_gaussian`).
- :func:`quantized_gaussian_round`: the Gaussian mechanism followed by unbiased
  stochastic quantization of each noisy coordinate to ``b`` bits on ``[-R, R]``
  (``R = C + 4σ``; values beyond are clipped, a bias below 1e-4 of σ). Quantizing
  after the noise is post-processing, so the guarantees are the Gaussian mechanism's;
  the MSE pays the quantization variance.

Errors are returned per vector (squared L2, summed over coordinates).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .accounting import calibrate_gaussian

__all__ = ["csgm_noise", "csgm_round", "quantized_gaussian_round", "stochastic_quantize"]


def _check_rate(rate: float) -> float:
    if not (isinstance(rate, (int, float, np.floating)) and 0.0 < float(rate) <= 1.0):
        raise InputError("sampling_rate", f"must be in (0, 1], got {rate!r}")
    return float(rate)


def csgm_noise(epsilon: float, delta: float, sampling_rate: float, clip_norm: float) -> float:
    """Central noise std σ (data units) of CSGM at central (ε, δ) and rate γ."""
    gamma = _check_rate(sampling_rate)
    return calibrate_gaussian(epsilon, delta, rounds=1, sampling_rate=gamma) * clip_norm


def csgm_round(
    inputs: np.ndarray, sampling_rate: float, sigma: float, generator: np.random.Generator
) -> tuple[np.ndarray, float]:
    """One CSGM round over ``inputs`` (n, d) (already in the ball).

    Returns:
        (mean estimate (d,), bits per client: 32 × the mean number of kept coordinates).
    """
    gamma = _check_rate(sampling_rate)
    n, d = inputs.shape
    keep = generator.random((n, d)) < gamma
    total = np.where(keep, inputs, 0.0).sum(axis=0) + sigma * generator.standard_normal(d)
    return total / (n * gamma), 32.0 * float(keep.sum()) / n


def stochastic_quantize(
    values: np.ndarray, bits: int, radius: float, generator: np.random.Generator
) -> np.ndarray:
    """Unbiased stochastic rounding of ``values`` (clipped to [-radius, radius]) onto the
    ``2^bits`` evenly spaced levels of that interval; returns the dequantized values."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 24:
        raise InputError("bits", f"must be an integer in 1..24, got {bits!r}")
    levels = (1 << int(bits)) - 1
    step = 2.0 * radius / levels
    pos = (np.clip(values, -radius, radius) + radius) / step
    low = np.floor(pos)
    up = generator.random(values.shape) < (pos - low)
    return (np.minimum(low + up, levels)) * step - radius


def quantized_gaussian_round(
    inputs: np.ndarray,
    sigma: float,
    bits: int,
    clip_norm: float,
    generator: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Each client adds ``N(0, σ² I)`` and sends its noisy vector at ``bits`` per
    coordinate (:func:`stochastic_quantize`, radius ``C + 4σ``).

    Returns:
        (mean estimate (d,), per-client outputs (n, d), bits per client = bits × d).
    """
    n, d = inputs.shape
    noisy = inputs + sigma * generator.standard_normal((n, d))
    sent = stochastic_quantize(noisy, bits, clip_norm + 4.0 * sigma, generator)
    return sent.mean(axis=0), sent, float(bits * d)
