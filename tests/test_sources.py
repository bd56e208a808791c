"""rdlab.data.sources: reproducible samplers with the right moments, and R(D) curves."""

from __future__ import annotations

import numpy as np
import pytest

from rdlab.data.sources import (
    AR1Source,
    BananaSource,
    Blocks,
    CorrelatedGaussianSource,
    GaussianSource,
    LaplaceSource,
)
from rdlab.errors import InputError
from rdlab.theory import ar1_rd, gaussian_rd, slb_laplace

N = 200_000  # standard errors: mean ~ σ/450, variance ~ 0.3 % (Gaussian)


@pytest.mark.parametrize(
    "source",
    [GaussianSource(2.0, 3), LaplaceSource(0.5, 2), AR1Source(0.8, 1.5, 3), BananaSource()],
)
def test_samplers_are_reproducible_float64_with_the_right_shape(source):
    a = source.sample(100, seed=7)
    assert a.shape == (100, source.dim) and a.dtype == np.float64
    assert np.array_equal(a, source.sample(100, seed=7))
    assert not np.array_equal(a, source.sample(100, seed=8))


def test_gaussian_and_laplace_moments():
    x = GaussianSource(2.0, 2).sample(N, seed=1)
    assert np.all(np.abs(x.mean(0)) < 0.02)
    assert np.allclose(x.var(0), 4.0, rtol=0.01)
    y = LaplaceSource(0.5, 1).sample(N, seed=2)[:, 0]
    assert abs(y.var() - 0.5) < 0.01  # variance 2b²
    assert abs(np.mean(np.abs(y)) - 0.5) < 0.005  # E|x| = b


def test_correlated_and_ar1_covariances():
    src = AR1Source(0.9, 1.0, 3)
    x = src.sample(N, seed=3)
    expected = 0.9 ** np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
    assert np.allclose(np.cov(x.T), expected, atol=0.015)
    cov = np.array([[1.0, 0.3], [0.3, 2.0]])
    y = CorrelatedGaussianSource(cov).sample(N, seed=4)
    assert np.allclose(np.cov(y.T), cov, atol=0.02)


def test_banana_moments():
    src = BananaSource(1.0, 0.25, 0.3)
    x = src.sample(N, seed=5)
    assert abs(x[:, 1].mean() - 0.25) < 0.01  # E x2 = a·σ1²
    assert abs(x[:, 1].var() - (2 * 0.25**2 + 0.09)) < 0.01
    assert abs(src.variance - 0.5 * (1 + 0.215)) < 1e-12


def test_blocks_of_a_vector_source():
    blocks = Blocks(BananaSource(), 3)
    x = blocks.sample(1000, seed=1)
    assert x.shape == (1000, 6)
    assert np.array_equal(x.reshape(3000, 2), BananaSource().sample(3000, seed=1))
    d = np.array([0.1, 0.3])
    g = Blocks(GaussianSource(), 4).rate_distortion(d)
    assert np.allclose(g.rate, gaussian_rd(d)) and g.kind == "exact (closed form)"


def test_rate_distortion_curves_and_their_kinds():
    d = np.array([0.02, 0.1, 0.5])
    gauss = GaussianSource(1.0).rate_distortion(d)
    assert gauss.kind == "exact (closed form)" and np.allclose(gauss.rate, gaussian_rd(d))
    ar = AR1Source(0.9, 1.0, 4).rate_distortion(d)
    assert np.allclose(ar.rate, ar1_rd(d, 0.9, 1.0, n=4))
    lap = LaplaceSource()
    slb = lap.rate_distortion(d, method="slb")
    assert slb.kind == "Shannon lower bound" and np.allclose(slb.rate, slb_laplace(d))
    ba = lap.rate_distortion(d)
    assert ba.kind.startswith("Blahut–Arimoto (numerical, tolerance")
    assert np.all(ba.rate >= slb.rate - 1e-3)
    assert np.all(ba.rate <= gaussian_rd(d) + 1e-3)  # the Gaussian is the hardest source
    assert ba.rate[0] - slb.rate[0] < 0.02


def test_banana_rd_by_2d_ba_between_the_slb_and_the_gaussian_bound():
    src = BananaSource()
    d = np.array([0.02, 0.05, 0.2])
    curve = src.rate_distortion(d)
    assert curve.kind.startswith("Blahut–Arimoto")
    slb = src.shannon_lower_bound(d).rate
    # grid discretization (64x64) lets BA dip slightly below the continuous SLB
    assert np.all(curve.rate >= slb - 0.01)
    assert np.all(np.diff(curve.rate) < 0)
    # Gaussian with the same covariance is an upper bound on R(D)
    x = src.sample(N, seed=9)
    upper = CorrelatedGaussianSource(np.cov(x.T)).rate_distortion(d).rate
    assert np.all(curve.rate <= upper + 0.01)
    assert src.rate_distortion(d).rate is not None  # cached second call


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: GaussianSource(-1.0), "sigma"),
        (lambda: GaussianSource(1.0, 0), "dim"),
        (lambda: LaplaceSource(0.0), "b"),
        (lambda: AR1Source(1.0), "rho"),
        (lambda: CorrelatedGaussianSource(np.ones((2, 3))), "covariance"),
        (lambda: Blocks("x", 2), "source"),
        (lambda: GaussianSource().sample(-1), "n"),
        (lambda: GaussianSource().rate_distortion([0.0]), "distortions"),
        (lambda: LaplaceSource().rate_distortion([0.1], method="x"), "method"),
    ],
)
def test_bad_arguments_raise_input_error(make, argument):
    with pytest.raises(InputError) as info:
        make()
    assert info.value.argument == argument
