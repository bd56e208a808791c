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
- :func:`seed_compressed_round`: PrivUnit / PrivUnitG with their own compression, a
  public generator seed found by rejection sampling (Feldman & Talwar 2021): 32 bits
  per client, the seed ε-LDP.
- :func:`quantized_gaussian_round`: the Gaussian mechanism followed by unbiased
  stochastic quantization of each noisy coordinate to ``b`` bits on ``[-R, R]``
  (``R = C + 4σ``; values beyond are clipped, a bias below 1e-4 of σ). Quantizing
  after the noise is post-processing, so the guarantees are the Gaussian mechanism's;
  the MSE pays the quantization variance.

Errors are returned per vector (squared L2, summed over coordinates).
"""

from __future__ import annotations

import numpy as np

from .. import rng
from ..errors import InputError
from ..rec.distributions import HalfspaceMixture
from ..rec.streams import stream_id
from .accounting import _check_rate, calibrate_gaussian
from .mechanisms import Mechanism

__all__ = [
    "SEED_STREAM",
    "csgm_noise",
    "csgm_round",
    "decode_seeds",
    "quantized_gaussian_round",
    "seed_compressed_round",
    "stochastic_quantize",
]


def csgm_noise(
    epsilon: float, delta: float, sampling_rate: float, clip_norm: float, rounds: int = 1
) -> float:
    """Central noise std σ (data units) of CSGM so that ``rounds`` rounds at rate γ
    together meet central (ε, δ)."""
    gamma = _check_rate(sampling_rate)
    return calibrate_gaussian(epsilon, delta, rounds=rounds, sampling_rate=gamma) * clip_norm


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


SEED_STREAM = "privacy/seed-compressed"


def seed_compressed_round(
    mechanism: Mechanism,
    inputs: np.ndarray,
    *,
    seed: int,
    seed_bits: int = 32,
    generator: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """PrivUnit / PrivUnitG with their own compression: a public generator seed.

    The scheme of Feldman & Talwar (ICML 2021, "Lossless compression of efficient private
    local randomizers"): the client draws private uniform seeds ``s`` of ``seed_bits``
    bits, expands each into a base-law point ``v = G(s)`` (:mod:`rdlab.rng`, stream
    ``"privacy/seed-compressed"``, Philox block s), and keeps the first one accepted with
    probability ``r_x(v) / r_max`` (rejection sampling against the mechanism's density
    ratio); it sends ``s``. The server regenerates ``v``. With an ideal generator the
    output has exactly the mechanism's law and the seed is **ε-LDP** (its probability is
    proportional to ``r_x(G(s))``); with ``2^seed_bits`` seeds the law is that of the
    mechanism on a finite sample of the base law (relative deviation about
    ``2^(-seed_bits/2)``). Cost: ``seed_bits`` per client, about ``r_max`` draws.

    Args:
        mechanism: a half-space mechanism (:class:`PrivUnit` or :class:`PrivUnitG`).
        inputs: (n, dim) client inputs.
        seed: the public stream seed. seed_bits: seed length in bits (8..62).
        generator: the clients' private randomness.

    Returns:
        (seeds (n,) uint64, outputs (n, dim): what the server decodes).
    """
    if isinstance(seed_bits, bool) or not isinstance(seed_bits, int) or not 8 <= seed_bits <= 62:
        raise InputError("seed_bits", f"must be an integer in 8..62, got {seed_bits!r}")
    base = mechanism.references()[0]
    n, dim = inputs.shape
    sid = stream_id(SEED_STREAM)
    seeds = np.zeros(n, dtype=np.uint64)
    for c in range(n):
        law = mechanism.laws(mechanism.prepare(inputs[c], generator))[0]
        if not isinstance(law, HalfspaceMixture):
            raise InputError("mechanism", "seed compression here is for PrivUnit / PrivUnitG")
        high = max(law.p / law.q, (1.0 - law.p) / (1.0 - law.q))
        while True:
            batch = generator.integers(0, 1 << seed_bits, size=64, dtype=np.uint64)
            u = rng.open_uniform_rows_at(seed, sid, batch, np.zeros(64, dtype=np.uint64), dim)
            ratio = np.exp(
                law.log_prob(base.from_uniforms(u)) - base.log_prob(base.from_uniforms(u))
            )
            accept = generator.random(64) * high < ratio
            if accept.any():
                seeds[c] = batch[int(np.argmax(accept))]
                break
    return seeds, decode_seeds(mechanism, seeds, seed=seed)


def decode_seeds(mechanism: Mechanism, seeds: np.ndarray, *, seed: int) -> np.ndarray:
    """The outputs that :func:`seed_compressed_round`'s seeds stand for, (n, dim)."""
    base = mechanism.references()[0]
    s = np.asarray(seeds, dtype=np.uint64)
    u = rng.open_uniform_rows_at(
        seed, stream_id(SEED_STREAM), s, np.zeros(s.size, dtype=np.uint64), base.dim
    )
    return mechanism.join([base.from_uniforms(u)])
