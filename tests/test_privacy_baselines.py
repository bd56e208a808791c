"""The peers of private compression: CSGM, Gaussian + stochastic quantization, and
PrivUnit's own seed compression (statistical checks with fixed seeds and negative
controls)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from rdlab.errors import InputError
from rdlab.privacy import PrivUnit, PrivUnitG
from rdlab.privacy.baselines import (
    csgm_noise,
    csgm_round,
    decode_seeds,
    quantized_gaussian_round,
    seed_compressed_round,
    stochastic_quantize,
)
from rdlab.rec.distributions import UniformSphere


def test_stochastic_quantization_is_unbiased_on_its_grid():
    g = np.random.default_rng(0)
    values = np.full(200_000, 0.3137)
    q = stochastic_quantize(values, 2, 1.0, g)
    levels = np.array([-1.0, -1 / 3, 1 / 3, 1.0])
    assert np.isin(np.round(q, 12), np.round(levels, 12)).all()
    se = q.std() / math.sqrt(q.size)
    assert abs(q.mean() - 0.3137) < 4 * se  # unbiased, 4 standard errors
    # negative control: deterministic rounding to the nearest level is biased
    nearest = levels[np.abs(values[:1, None] - levels).argmin(axis=1)][0]
    assert abs(nearest - 0.3137) > 10 * se
    with pytest.raises(InputError, match="bits"):
        stochastic_quantize(values, 0, 1.0, g)


def test_csgm_is_unbiased_and_costs_32_bits_per_kept_coordinate():
    g = np.random.default_rng(1)
    x = g.standard_normal((50, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ests, bits = zip(*(csgm_round(x, 0.25, 0.5, g) for _ in range(3000)), strict=True)
    ests = np.array(ests)
    se = ests.std(axis=0) / math.sqrt(len(ests))
    assert (np.abs(ests.mean(axis=0) - x.mean(axis=0)) < 4.5 * se).all()  # Bonferroni-ish
    assert np.mean(bits) == pytest.approx(32 * 0.25 * 8, rel=0.02)
    # subsampling amplifies privacy: less noise is needed at a lower rate
    assert csgm_noise(1.0, 1e-5, 0.05, 1.0) < csgm_noise(1.0, 1e-5, 1.0, 1.0)


def test_quantized_gaussian_pays_quantization_variance():
    g = np.random.default_rng(2)
    x = np.zeros((200, 4))
    coarse = np.mean(
        [np.sum(quantized_gaussian_round(x, 0.1, 1, 1.0, g)[0] ** 2) for _ in range(300)]
    )
    fine = np.mean(
        [np.sum(quantized_gaussian_round(x, 0.1, 12, 1.0, g)[0] ** 2) for _ in range(300)]
    )
    pure = 4 * 0.1**2 / 200  # the Gaussian mechanism's own MSE of the mean
    assert fine == pytest.approx(pure, rel=0.2)
    assert coarse > 5 * pure


@pytest.mark.parametrize("cls", [PrivUnit, PrivUnitG])
def test_seed_compression_sends_the_mechanism_law(cls):
    mech = cls(8, epsilon=2.0)
    u = np.eye(8)[0]
    g = np.random.default_rng(3)
    seeds, y = seed_compressed_round(mech, np.tile(u, (4000, 1)), seed=9, generator=g)
    assert np.array_equal(decode_seeds(mech, seeds, seed=9), y)
    assert seeds.max() < 2**32
    inside = int(((y * mech.m) @ u >= mech.threshold).sum())
    # the cap holds a fraction p of the outputs (binomial test at 0.001) ...
    assert stats.binomtest(inside, 4000, mech.p).pvalue > 1e-3
    # ... and the estimate is unbiased (4 standard errors per coordinate)
    se = y.std(axis=0) / math.sqrt(len(y))
    assert (np.abs(y.mean(axis=0) - u) < 4 * se).all()
    # negative control: the base law itself (no rejection step) puts only q there
    base = mech.references()[0]
    v = base.from_uniforms(g.random((4000, 8)) * (1 - 2**-53) + 2**-54)
    assert stats.binomtest(int((v @ u >= mech.threshold).sum()), 4000, mech.p).pvalue < 1e-6
    with pytest.raises(InputError, match="seed_bits"):
        seed_compressed_round(mech, u[None], seed=9, seed_bits=4, generator=g)


def test_seed_compression_refuses_other_mechanisms():
    from rdlab.privacy import GaussianMechanism

    g = np.random.default_rng(4)
    with pytest.raises(InputError, match="mechanism"):
        seed_compressed_round(
            GaussianMechanism(4, epsilon=1.0), np.zeros((1, 4)), seed=1, generator=g
        )
    assert isinstance(PrivUnit(4, epsilon=1.0).references()[0], UniformSphere)
