"""Coding the Gaussian source at the rate–distortion–perception limit with REC.

A stochastic codec for X ~ N(0, σ²) that sends, for each block of n source samples, an
exact sample of the optimal test channel ``Y | X = x ~ N(a x, s² I)``
(:func:`rdlab.theory.rdp.gaussian_test_channel`) with A* / PFR (:mod:`rdlab.rec.pfr`):
the shared proposal is the channel's output law ``N(0, τ² I)``, the candidates come from
:mod:`rdlab.rng`, so the decoder's outputs have **exactly** the law N(0, τ²) (the source
law itself when P = 0) and the expected message length per block is within
``log2(I + 1) + 4`` bits of ``I = n R(D, P)`` (I is the mean KL to the proposal,
which is the mutual information because the proposal is the output marginal).

Beside it, the **deterministic-decoder** baseline without common randomness: a uniform
scalar quantizer (step chosen to meet the same distortion when possible), ideal entropy
coding of the index, centroid reconstruction; its output is discrete, so its perception
(W2² to the source law) stays above zero at every rate.

Measured per point: rate (bits per sample: ideal code length, and the payload of all
blocks in one range-coded stream), distortion (MSE), perception (empirical W2² between
the outputs and the source law, by quantile matching), the KS test of the outputs against
their prescribed law, and the theory R(D, P).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import ndtri

from ..coding import SymbolEncoder
from ..errors import InputError
from ..rec import pfr
from ..rec.distributions import Gaussian, kl_bits
from ..rec.messages import IndexCode
from ..theory.rdp import gaussian_rdp, gaussian_test_channel

__all__ = ["deterministic_baseline", "rec_point", "step_for_distortion", "w2_to_gaussian"]


def w2_to_gaussian(samples: np.ndarray, variance: float) -> float:
    """Empirical W2² between ``samples`` (any shape, pooled) and N(0, variance): mean
    squared difference of the sorted samples and the law's quantiles at (i − ½)/m."""
    y = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    q = math.sqrt(variance) * ndtri((np.arange(y.size) + 0.5) / y.size)
    return float(np.mean((y - q) ** 2))


def rec_point(
    distortion: float,
    perception: float,
    *,
    measure: str = "w2",
    variance: float = 1.0,
    block: int = 2,
    blocks: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Code ``blocks`` blocks of ``block`` N(0, variance) samples at (D, P) with PFR.

    Returns a JSON-ready dict: the channel, measured rate/distortion/perception, the KS
    p-value of the outputs against N(0, τ²), the theory R(D, P), and the mean KL.

    Raises:
        InputError: bad arguments or an infeasible (D, P).
    """
    if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= 8:
        raise InputError("block", f"must be an integer in 1..8, got {block!r}")
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 2:
        raise InputError("blocks", f"must be an integer >= 2, got {blocks!r}")
    ch = gaussian_test_channel(distortion, perception, variance, measure)
    x = math.sqrt(variance) * np.random.default_rng([seed, 29]).standard_normal((blocks, block))
    proposal = Gaussian(np.zeros(block), math.sqrt(ch.tau2))
    noise = math.sqrt(max(ch.s2, 1e-300))
    indices, bits, kls = [], [], []
    y = np.empty_like(x)
    mean_kl = block * ch.rate
    code = IndexCode.zeta(mean_kl)  # public: set by (D, P), not by the data
    for i in range(blocks):
        target = Gaussian(ch.a * x[i], noise)
        msg = pfr.encode(target, proposal, seed, block=i, code=code)
        y[i] = pfr.decode(msg, proposal, seed, block=i)
        indices.append(msg.index)
        bits.append(msg.bits)
        kls.append(kl_bits(target, proposal))
    encoder = SymbolEncoder()
    code.encode_into(encoder, np.array(indices, dtype=np.uint64))
    payload = encoder.to_bytes()
    ks = stats.kstest(y.ravel(), stats.norm(0.0, math.sqrt(ch.tau2)).cdf)
    return {
        "distortion_target": float(distortion),
        "perception_target": float(perception),
        "measure": measure,
        "block": block,
        "blocks": blocks,
        "theory_rate": float(gaussian_rdp(distortion, perception, variance, measure)[0]),
        "channel": {"a": ch.a, "s2": ch.s2, "tau2": ch.tau2, "rate": ch.rate},
        "rate": float(np.mean(bits)) / block,
        "payload_rate": 8.0 * len(payload) / (blocks * block),
        "bits_per_block": float(np.mean(bits)),
        "kl_per_block": float(np.mean(kls)),
        "distortion": float(np.mean((x - y) ** 2)),
        "w2_to_source": w2_to_gaussian(y, variance),
        "output_ks_pvalue": float(ks.pvalue),
    }


def deterministic_baseline(
    step: float, *, variance: float = 1.0, samples: int = 20_000, seed: int = 0
) -> dict[str, Any]:
    """Uniform scalar quantizer of step ``step`` (data units) with centroid decoding:
    rate = empirical entropy of the index (bits/sample), distortion (MSE), and the
    perception W2² of its discrete output to the source law (never 0)."""
    if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
        raise InputError("step", f"must be a finite number > 0, got {step!r}")
    x = math.sqrt(variance) * np.random.default_rng([seed, 31]).standard_normal(samples)
    idx = np.floor(x / step).astype(np.int64)
    cells, inverse, counts = np.unique(idx, return_inverse=True, return_counts=True)
    centroids = np.bincount(inverse, weights=x) / counts
    y = centroids[inverse]
    p = counts / samples
    return {
        "step": float(step),
        "rate": float(-np.sum(p * np.log2(p))),
        "distortion": float(np.mean((x - y) ** 2)),
        "w2_to_source": w2_to_gaussian(y, variance),
        "cells": int(cells.size),
    }


def step_for_distortion(
    distortion: float, *, variance: float = 1.0, samples: int = 20_000, seed: int = 0
) -> float:
    """The uniform quantizer step whose centroid decoding meets ``distortion`` (MSE) on
    the baseline's samples (bisection in log step, 60 steps)."""
    lo, hi = 1e-4 * math.sqrt(variance), 50.0 * math.sqrt(variance)
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        got = deterministic_baseline(mid, variance=variance, samples=samples, seed=seed)
        lo, hi = (mid, hi) if got["distortion"] <= distortion else (lo, mid)
    return lo
