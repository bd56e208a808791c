"""rdlab.theory against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from rdlab.errors import InputError, ModelError
from rdlab.lattice import get_lattice
from rdlab.theory import (
    KNOWN_G,
    ar1_eigenvalues,
    ar1_rd,
    binary_entropy,
    binary_rd,
    blahut_arimoto,
    blahut_arimoto_grid,
    blahut_arimoto_grid_2d,
    ecsq,
    ecsq_sweep,
    ecvq_sweep,
    gaussian_dr,
    gaussian_rd,
    gaussian_vector_rd,
    high_rate_gap_bits,
    high_rate_gap_db,
    normalized_second_moment,
    normalized_second_moment_mc,
    reverse_water_filling,
    shannon_lower_bound,
    slb_gaussian,
    slb_laplace,
    slb_uniform,
    slopes_for_distortions,
    uniform_scalar_quantizer,
)

# --- closed forms -------------------------------------------------------------------


def test_gaussian_rd_and_dr_are_inverse_and_clip_at_zero():
    r = np.array([0.0, 0.5, 1.0, 3.0])
    d = gaussian_dr(r, 4.0)
    assert np.allclose(d, 4.0 * 2.0 ** (-2 * r))
    assert np.allclose(gaussian_rd(d, 4.0), r)
    assert gaussian_rd(5.0, 4.0) == 0.0


def _brute_force_rate(eig: np.ndarray, d: float) -> float:
    """min (1/n) Σ ½log2(λ_i/D_i) s.t. mean D_i = D, 0 < D_i <= λ_i (SLSQP)."""
    n = eig.size

    def rate(x):
        return float(np.mean(0.5 * np.log2(eig / x)))

    res = minimize(
        rate,
        np.full(n, min(d, eig.min()) * 0.999),
        method="SLSQP",
        bounds=[(1e-9, lam) for lam in eig],
        constraints=[{"type": "eq", "fun": lambda x: np.mean(x) - d}],
        options={"ftol": 1e-12, "maxiter": 500},
    )
    return rate(res.x)


@pytest.mark.parametrize("d", [0.05, 0.3, 0.8, 1.1])
def test_reverse_water_filling_matches_a_numerical_minimization(d):
    cov = np.array([[2.0, 0.6, 0.2], [0.6, 1.0, 0.3], [0.2, 0.3, 0.5]])
    eig = np.linalg.eigvalsh(cov)
    rate, theta = gaussian_vector_rd(cov, d)
    assert np.isclose(np.mean(np.minimum(theta, eig)), d)
    assert abs(rate - _brute_force_rate(eig, d)) < 1e-5


def test_water_filling_above_mean_variance_gives_zero_rate():
    rate, theta = reverse_water_filling([1.0, 2.0, 3.0], [2.0, 5.0])
    assert np.all(rate == 0) and np.all(theta == 3.0)


def test_ar1_block_rate_decreases_to_the_spectral_limit():
    d = 0.05
    r1 = ar1_rd(d, 0.9, 1.0, n=1)
    r8 = ar1_rd(d, 0.9, 1.0, n=8)
    r64 = ar1_rd(d, 0.9, 1.0, n=64)
    rinf = ar1_rd(d, 0.9, 1.0)
    assert np.isclose(r1, gaussian_rd(d))
    assert r1 > r8 > r64 > rinf
    # at small D all components are active: R = ½log2((1−ρ²)σ²/D) for n → ∞
    assert np.isclose(rinf, 0.5 * np.log2((1 - 0.81) / d), atol=1e-6)
    assert np.isclose(np.sum(ar1_eigenvalues(0.9, 2.0, 5)), 10.0)


def test_binary_rd_known_points():
    assert np.isclose(binary_entropy(0.5), 1.0)
    assert np.isclose(binary_rd(0.0, 0.5), 1.0)
    assert np.isclose(binary_rd(0.11, 0.5), 1 - binary_entropy(0.11))
    assert np.isclose(binary_rd(0.1, 0.2), binary_entropy(0.2) - binary_entropy(0.1))
    assert binary_rd(0.2, 0.2) == 0 and binary_rd(0.3, 0.8) == 0


def test_shannon_lower_bounds():
    d = np.array([0.01, 0.1, 0.5])
    assert np.allclose(slb_gaussian(d), gaussian_rd(d))
    b = 2**-0.5
    assert np.allclose(
        slb_laplace(d, b), np.log2(2 * np.e * b) - 0.5 * np.log2(2 * np.pi * np.e * d)
    )
    # uniform of width 1 (variance 1/12): SLB = −½log2(2πe·D), 0 once negative
    assert np.allclose(slb_uniform(d, 1.0), np.maximum(0, -0.5 * np.log2(2 * np.pi * np.e * d)))
    assert shannon_lower_bound(0.0, 10.0) == 0.0


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: gaussian_rd(-1.0), "distortion"),
        (lambda: gaussian_rd(1.0, variance=0), "variance"),
        (lambda: gaussian_vector_rd(np.ones((2, 3)), 0.1), "covariance"),
        (lambda: gaussian_vector_rd([[1.0, 2.0], [2.0, 1.0]], 0.1), "covariance"),
        (lambda: ar1_rd(0.1, 1.5), "rho"),
        (lambda: binary_rd(0.1, 1.5), "p"),
        (lambda: blahut_arimoto([0.5, 0.5], np.ones((3, 2)), [1.0]), "distortion_matrix"),
        (lambda: blahut_arimoto([0.5, 0.5], np.ones((2, 2)), [-1.0]), "slopes"),
        (lambda: blahut_arimoto([0.5, 0.5], np.ones((2, 2)), [1.0], tol=0), "tol"),
        (lambda: blahut_arimoto_grid([1.0, 1.0], [0.0, 1.0, 2.0], [1.0]), "density"),
        (lambda: ecsq([1.0, 2.0, 3.0], -1.0), "lam"),
        (lambda: uniform_scalar_quantizer([1.0, 2.0], 0.0), "step"),
        (lambda: normalized_second_moment(np.zeros((4, 2)), 0.0), "volume"),
    ],
)
def test_bad_arguments_raise_input_error_naming_them(call, argument):
    with pytest.raises(InputError) as info:
        call()
    assert info.value.argument == argument


# --- Blahut–Arimoto ------------------------------------------------------------------


def test_ba_binary_source_with_hamming_distortion():
    p = 0.3
    res = blahut_arimoto([p, 1 - p], 1.0 - np.eye(2), [0.7, 1.5, 3.0, 5.0])
    assert np.all(res.distortion < p)
    assert np.allclose(res.rate, binary_rd(res.distortion, p), atol=2e-4)
    assert np.all(res.rate_lower <= res.rate + 1e-12)


def test_ba_iteration_cap_raises_or_warns():
    g = np.linspace(-6, 6, 201)
    with pytest.raises(ModelError):
        blahut_arimoto_grid(np.exp(-(g**2) / 2), g, [0.6], max_iter=2, tol=1e-12)
    with pytest.warns(RuntimeWarning):
        blahut_arimoto_grid(np.exp(-(g**2) / 2), g, [0.6], max_iter=2, tol=1e-12, on_cap="warn")


def test_ba_unit_gaussian_within_0_01_bit_of_closed_form_over_0_25_to_4_bits():
    grid = np.linspace(-8, 8, 2048)
    rates = np.linspace(0.25, 4.0, 12)
    res = blahut_arimoto_grid(
        np.exp(-(grid**2) / 2), grid, slopes_for_distortions(gaussian_dr(rates))[::-1]
    )
    # compared at equal D (the BA point's own distortion)
    err = np.abs(res.rate - gaussian_rd(res.distortion))
    assert err.max() < 0.01
    assert err.max() < 1e-4  # measured: ~3e-8
    assert res.rate.min() < 0.3 and res.rate.max() > 3.9


def test_ba_laplace_sits_just_above_the_shannon_lower_bound_at_high_rate():
    b = 2**-0.5
    grid = np.linspace(-14 * b, 14 * b, 1024)
    slopes = slopes_for_distortions(np.array([2.0**-5, 2.0**-7]))
    res = blahut_arimoto_grid(np.exp(-np.abs(grid) / b), grid, slopes[::-1])
    gap = res.rate - slb_laplace(res.distortion, b)
    assert np.all(res.rate >= 2.0)
    assert np.all(gap > -1e-3) and np.all(gap < 0.02)


def test_ba_2d_separable_matches_the_gaussian_and_a_dense_computation():
    g = np.linspace(-6, 6, 48)
    dens = np.exp(-(g[:, None] ** 2 + g[None, :] ** 2) / 2)
    slopes = slopes_for_distortions(np.array([0.05, 0.2]))[::-1]
    res = blahut_arimoto_grid_2d(dens, g, g, slopes)
    # two independent unit Gaussians: per-dimension R(D) is the scalar one
    assert np.allclose(res.rate, gaussian_rd(res.distortion), atol=5e-3)
    assert np.allclose(res.rate_total, 2 * res.rate)
    xx = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    d = np.sum((xx[:, None, :] - xx[None, :, :]) ** 2, axis=-1)
    dense = blahut_arimoto(dens.ravel(), d, slopes)
    assert np.allclose(dense.rate / 2, res.rate, atol=2e-4)
    assert np.allclose(dense.distortion / 2, res.distortion, rtol=1e-3)


# --- quantizers -------------------------------------------------------------------------


def _gaussian_grid(n: int = 100_001) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-9, 9, n)
    w = np.exp(-(x**2) / 2)
    return x, w / w.sum()


def test_ecsq_gaussian_high_rate_gap_is_0_254_bit():
    # rate and MSE by numerical integration against the density (a fine weighted grid)
    x, w = _gaussian_grid()
    point = ecsq(x, 0.0037, weights=w)
    assert 4.0 < point.rate < 5.0
    gap = point.rate - gaussian_rd(point.distortion)
    assert abs(gap - 0.5 * np.log2(2 * np.pi * np.e / 12)) < 0.02


def test_uniform_quantizer_with_centroids_matches_high_rate_theory():
    x, w = _gaussian_grid()
    point = uniform_scalar_quantizer(x, 0.1, weights=w)
    assert np.isclose(point.distortion, 0.01 / 12, rtol=0.02)
    gap = point.rate - gaussian_rd(point.distortion)
    assert abs(gap - 0.254) < 0.02
    # at low rate the tuned deadzone quantizer stays above R(D)
    low = uniform_scalar_quantizer(x, 1.5, weights=w)
    assert low.rate > gaussian_rd(low.distortion)


def test_ecvq_beats_ecsq_on_a_correlated_gaussian_at_equal_rate():
    rng = np.random.default_rng(5)
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    x = rng.multivariate_normal([0, 0], cov, size=6000)
    r_vq, d_vq = ecvq_sweep(x, [0.02, 0.05, 0.1], codewords=128, iterations=30)
    r_sq, d_sq = ecsq_sweep(x.reshape(-1, 1), np.geomspace(0.005, 0.3, 8))
    order = np.argsort(r_sq)
    d_sq_at = np.exp(np.interp(r_vq, r_sq[order], np.log(d_sq[order])))
    assert np.all(d_vq < 0.8 * d_sq_at)  # ECVQ exploits the correlation
    assert np.all(r_vq > gaussian_vector_rd(cov, d_vq)[0])  # and stays above R(D)


# --- lattices -----------------------------------------------------------------------------


def _numpy_nearest(name: str):
    """rdlab.lattice's torch decoder as the numpy callable normalized_second_moment_mc takes."""
    lattice = get_lattice(name)
    return lattice, lambda x: lattice.nearest(torch.from_numpy(x)).numpy()


def test_normalized_second_moment_of_z_and_a2_by_monte_carlo():
    z, nearest_z = _numpy_nearest("z")
    g_z = normalized_second_moment_mc(nearest_z, z.generator.numpy(), 400_000, seed=1)
    assert abs(g_z / KNOWN_G["Z"] - 1) < 0.005
    a2, nearest_a2 = _numpy_nearest("a2")
    g_a2 = normalized_second_moment_mc(nearest_a2, a2.generator.numpy(), 400_000, seed=2)
    assert abs(g_a2 / KNOWN_G["A2"] - 1) < 0.005
    assert np.isclose(KNOWN_G["A2"], 0.0801875, atol=1e-7)


def test_d4_monte_carlo_and_gaps():
    d4, nearest_d4 = _numpy_nearest("d4")
    g_d4 = normalized_second_moment_mc(nearest_d4, d4.generator.numpy(), 200_000, seed=4)
    assert abs(g_d4 / KNOWN_G["D4"] - 1) < 0.01
    assert np.isclose(high_rate_gap_db(1 / 12), 1.5329, atol=1e-3)
    assert np.isclose(high_rate_gap_bits(1 / 12), 0.2546, atol=1e-3)
    assert high_rate_gap_bits(KNOWN_G["Leech"]) < high_rate_gap_bits(KNOWN_G["E8"])
