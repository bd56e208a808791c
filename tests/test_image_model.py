"""The pieces of the hyperprior image model: GDN, entropy models, gains, a few training steps.

Tiny models (N=8, M=12) on 64x64 images with fixed seeds, so the file runs in seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from rdlab.nn.entropy_models import (
    LIKELIHOOD_FLOOR,
    SCALE_FLOOR,
    FactorizedDensity,
    gaussian_bin_likelihood,
)
from rdlab.nn.gdn import GDN, IGDN
from rdlab.nn.image_model import HyperpriorImageModel, ImageModelConfig

LAMBDAS = (0.002, 0.008, 0.032)


def tiny_model(seed: int = 0) -> HyperpriorImageModel:
    torch.manual_seed(seed)
    return HyperpriorImageModel(ImageModelConfig(channels=8, latent_channels=12, lambdas=LAMBDAS))


def smooth_images(batch: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Structured images in [0, 1]: upsampled random fields, a gradient and a little noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, size // 8, size // 8, generator=g)
    field = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    ramp = torch.linspace(0, 1, size).view(1, 1, 1, size)
    noise = 0.02 * torch.randn(batch, 3, size, size, generator=g)
    return (0.6 * field + 0.4 * ramp + noise).clamp(0, 1)


# -- GDN -------------------------------------------------------------------------------------


def _randomize_gdn(layer: GDN, channels: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.beta.param.copy_(0.5 + torch.rand(channels, generator=g))
        layer.gamma.param.copy_(0.6 * torch.rand(channels, channels, generator=g))


@pytest.mark.parametrize("cls", [GDN, IGDN])
def test_gdn_matches_explicit_formula(cls):
    channels = 5
    layer = cls(channels)
    _randomize_gdn(layer, channels, seed=1)
    x = torch.randn(2, channels, 4, 3, generator=torch.Generator().manual_seed(2))
    beta = layer.beta().detach()
    gamma = layer.gamma().detach()
    # the reparameterization: value = max(p, bound)^2 - pedestal
    assert torch.all(beta > 0) and torch.all(gamma >= 0)
    norm_ = beta.view(1, -1, 1, 1) + torch.einsum("ij,bjhw->bihw", gamma, x * x)
    expected = x * torch.sqrt(norm_) if cls is IGDN else x / torch.sqrt(norm_)
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)
    # the inference path (no autograd, channels-last: one matrix product) is the same map
    with torch.inference_mode():
        fast = layer(x.contiguous(memory_format=torch.channels_last))
    assert fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-6)


def test_gdn_beta_stays_above_its_minimum_and_can_recover():
    beta_min = 1e-3
    layer = GDN(4, beta_min=beta_min)
    optimizer = torch.optim.SGD(layer.parameters(), lr=10.0)
    for _ in range(3):  # push beta down hard: the raw parameter goes far below the bound
        optimizer.zero_grad()
        layer.beta().sum().backward()
        optimizer.step()
    assert float(layer.beta.param.detach().min()) < layer.beta.bound  # it did go through the bound
    beta = layer.beta().detach()
    assert torch.all(beta >= beta_min * (1 - 1e-5)), beta
    assert torch.allclose(beta, torch.full_like(beta, beta_min), rtol=1e-4)
    # a gradient that would raise beta passes through the bound (no dead parameter) ...
    optimizer.zero_grad()
    (-layer.beta().sum()).backward()
    assert torch.all(layer.beta.param.grad < 0)
    # ... while one that pushes it further down is blocked
    optimizer.zero_grad()
    layer.beta().sum().backward()
    assert torch.all(layer.beta.param.grad == 0)


# -- Gaussian conditional -------------------------------------------------------------------


def _reference_gaussian_mass(v: np.ndarray, scale: np.ndarray) -> np.ndarray:
    sigma = np.maximum(scale, SCALE_FLOOR)
    a = np.abs(v)
    mass = norm.cdf((0.5 - a) / sigma) - norm.cdf((-0.5 - a) / sigma)
    return np.maximum(mass, LIKELIHOOD_FLOOR)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gaussian_bin_likelihood_matches_scipy(dtype):
    residuals = np.linspace(-8.0, 8.0, 65)
    scales = np.array([1e-3, 0.05, SCALE_FLOOR, 0.2, 0.5, 1.0, 2.5, 10.0, 60.0])
    v, s = np.meshgrid(residuals, scales, indexing="ij")
    means = np.random.default_rng(0).uniform(-3, 3, size=v.shape)
    y = means + v
    got = gaussian_bin_likelihood(
        torch.tensor(y, dtype=dtype), torch.tensor(means, dtype=dtype), torch.tensor(s, dtype=dtype)
    ).double()
    expected = _reference_gaussian_mass(v, s)
    # float32: y - mean loses ~1e-7 absolute, and the CDF difference near 1 cancels
    rtol, atol = (2e-4, 2e-6) if dtype == torch.float32 else (1e-9, 1e-12)
    np.testing.assert_allclose(got.numpy(), expected, rtol=rtol, atol=atol)
    # the floors: scales under 0.11 behave as 0.11; far residuals cost ~30 bits, not inf
    y_col, m_col = torch.tensor(y[:, 0], dtype=dtype), torch.tensor(means[:, 0], dtype=dtype)
    tiny = gaussian_bin_likelihood(y_col, m_col, torch.full_like(y_col, 1e-3))
    floor = gaussian_bin_likelihood(y_col, m_col, torch.full_like(y_col, SCALE_FLOOR))
    assert torch.equal(tiny, floor)
    assert float(got.min()) == pytest.approx(LIKELIHOOD_FLOOR, rel=1e-6)
    assert np.all(np.isfinite(-np.log2(got.numpy())))


def test_gaussian_bin_likelihood_is_a_distribution_over_integers():
    mean, scale = torch.tensor(0.3), torch.tensor(1.7)
    k = torch.arange(-40, 41, dtype=torch.float64)
    total = gaussian_bin_likelihood(k, mean.double(), scale.double()).sum()
    assert float(total) == pytest.approx(1.0, abs=1e-6)


# -- factorized density ------------------------------------------------------------------------


def _perturbed_density(channels: int = 6, seed: int = 0) -> FactorizedDensity:
    torch.manual_seed(seed)
    density = FactorizedDensity(channels)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # move away from the (nearly identical) initial densities
        for p in density.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return density


def test_factorized_density_masses_sum_to_one():
    density = _perturbed_density()
    k = torch.arange(-400, 401, dtype=torch.float32)
    z = k.view(1, 1, 1, -1).repeat(1, density.channels, 1, 1)
    with torch.no_grad():
        mass = density.likelihood(z)
    assert mass.shape == z.shape
    assert torch.all(mass >= LIKELIHOOD_FLOOR * (1 - 1e-6))
    totals = mass.double().sum(dim=(0, 2, 3))
    np.testing.assert_allclose(totals.numpy(), 1.0, atol=1e-4)


@pytest.mark.parametrize("tail_mass", [1e-9, 1e-3])
def test_factorized_density_integer_tables(tail_mass):
    density = _perturbed_density()
    offsets, masses = density.integer_tables(tail_mass=tail_mass)
    assert offsets.shape == (density.channels,) and masses.shape[0] == density.channels
    sums = masses.sum(axis=1)
    assert np.all(sums <= 1.0 + 1e-9)
    assert np.all(sums >= 1.0 - tail_mass - 1e-6), sums
    # entry i of row c is the mass of the integer offsets[c] + i
    width = masses.shape[1]
    z = torch.tensor(offsets[:, None] + np.arange(width)[None, :], dtype=torch.float32)
    with torch.no_grad():
        mass = density.likelihood(z.view(1, density.channels, 1, width))
    mass = mass.view(density.channels, width)
    inside = masses > 1e-6
    np.testing.assert_allclose(mass.double().numpy()[inside], masses[inside], rtol=1e-3, atol=1e-6)
    # each table covers the mode of its density
    for c in range(density.channels):
        k = torch.arange(-300, 301, dtype=torch.float32)
        with torch.no_grad():
            full = density.likelihood(
                torch.zeros(1, density.channels, 1, k.numel()) + k.view(1, 1, 1, -1)
            )[0, c, 0]
        mode = int(k[int(full.argmax())])
        assert offsets[c] <= mode < offsets[c] + np.count_nonzero(masses[c])


# -- the model -----------------------------------------------------------------------------------


def test_forward_shapes_and_positive_rates():
    model = tiny_model()
    x = smooth_images(2)
    t = torch.tensor([0.0, 1.5])
    out = model(x, t)
    assert out["x_hat"].shape == x.shape
    assert out["bits_y"].shape == out["bits_z"].shape == out["lmbda"].shape == (2,)
    assert torch.all(out["bits_y"] > 0) and torch.all(out["bits_z"] > 0)
    assert torch.all(torch.isfinite(out["x_hat"]))
    y = model.analyze(x, t)
    assert y.shape == (2, 12, 4, 4)
    assert model.h_a(y).shape == (2, 8, 1, 1)


def test_lambda_of_rate_parameter_is_geometric_and_inverted():
    model = tiny_model()
    at_levels = model.lambdas_at(torch.arange(len(LAMBDAS), dtype=torch.float32))
    np.testing.assert_allclose(at_levels.numpy(), LAMBDAS, rtol=1e-6)
    mid = model.lambdas_at(torch.tensor([0.5, 1.25]))
    expected = [
        math.sqrt(LAMBDAS[0] * LAMBDAS[1]),
        LAMBDAS[1] ** 0.75 * LAMBDAS[2] ** 0.25,
    ]
    np.testing.assert_allclose(mid.numpy(), expected, rtol=1e-6)
    # clamped outside [0, K-1]
    ends = model.lambdas_at(torch.tensor([-1.0, 7.0]))
    np.testing.assert_allclose(ends.numpy(), [LAMBDAS[0], LAMBDAS[-1]], rtol=1e-6)
    for t in (0.0, 0.3, 1.0, 1.7, 2.0):
        lam = float(model.lambdas_at(torch.tensor([t]))[0])
        assert model.rate_parameter_of_lambda(lam) == pytest.approx(t, abs=1e-5)
    assert model.rate_parameter_of_lambda(1e-6) == 0.0
    assert model.rate_parameter_of_lambda(10.0) == len(LAMBDAS) - 1


def test_gains_interpolate_log_linearly():
    model = tiny_model()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.log_gain.copy_(torch.randn(model.log_gain.shape, generator=g))
        model.log_inv_gain.copy_(torch.randn(model.log_inv_gain.shape, generator=g))
    t = torch.tensor([0.0, 0.25, 1.0, 1.6, 2.0])
    gain, inv_gain = model.gains(t)
    assert gain.shape == inv_gain.shape == (5, 12, 1, 1)
    for i, tv in enumerate(t.tolist()):
        low = min(math.floor(tv), len(LAMBDAS) - 2)
        frac = tv - low
        for table, got in ((model.log_gain, gain), (model.log_inv_gain, inv_gain)):
            expected = (1 - frac) * table[low] + frac * table[low + 1]
            torch.testing.assert_close(
                torch.log(got[i, :, 0, 0]), expected.detach(), rtol=1e-5, atol=1e-5
            )


def _loss(model: HyperpriorImageModel, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    out = model(x, t)
    bpp = (out["bits_y"] + out["bits_z"]) / (x.shape[2] * x.shape[3])
    mse = ((out["x_hat"] - x) ** 2).mean(dim=(1, 2, 3))
    return (out["lmbda"] * 255.0**2 * mse + bpp).mean()


def _grad_norms(model: HyperpriorImageModel, loss: torch.Tensor) -> dict[str, float]:
    model.zero_grad(set_to_none=False)
    loss.backward()
    return {
        name: 0.0 if p.grad is None else float(p.grad.abs().sum())
        for name, p in model.named_parameters()
    }


def _first_hyper_synthesis_weight(name: str) -> bool:
    # its input is the rounded hyper-latent, all zeros at initialization: a zero weight
    # gradient there is correct, so only its bias is checked
    return name in ("latent_codec.h_s_means.0.weight", "latent_codec.h_s_scales.0.weight")


def test_gradients_reach_every_part_of_the_model():
    model = tiny_model()
    x, t = smooth_images(2), torch.tensor([0.4, 1.8])
    torch.manual_seed(1)
    out = model(x, t)
    mse = ((out["x_hat"] - x) ** 2).mean()
    # distortion alone: the analysis learns only through the straight-through rounding of
    # y - mu (no noise in that path); the gains through both the latent and the synthesis.
    # The means cancel in round(y - mu) + mu under the identity gradient, so the hyper
    # networks get nothing from the distortion.
    grads = _grad_norms(model, mse)
    for name, value in grads.items():
        if name.startswith(("g_a", "g_s", "log_gain", "log_inv_gain")):
            assert value > 0, name
        else:
            assert value == 0, name
    # both rows of each gain table around t (rows 0-1 for t=0.4 and 1-2 for t=1.8)
    assert torch.all(model.log_gain.grad.abs().sum(dim=1) > 0)
    assert torch.all(model.log_inv_gain.grad.abs().sum(dim=1) > 0)
    # rate alone: through the noise proxies of y and z, the Gaussian conditional (means
    # and scales), the hyper-analysis and the learned density; the synthesis gets nothing
    torch.manual_seed(1)
    out = model(x, t)
    grads = _grad_norms(model, (out["bits_y"] + out["bits_z"]).mean())
    for name, value in grads.items():
        if name.startswith("g_s") or name == "log_inv_gain":
            assert value == 0, name
        elif not _first_hyper_synthesis_weight(name):
            assert value > 0, name


def test_a_few_training_steps_reduce_the_loss():
    model = tiny_model(seed=5)
    x, t = smooth_images(4, seed=6), torch.tensor([0.0, 0.7, 1.3, 2.0])

    def evaluate() -> float:
        torch.manual_seed(123)  # the same noise draws every time
        with torch.no_grad():
            return float(_loss(model, x, t))

    before = evaluate()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(7)
    for _ in range(10):
        optimizer.zero_grad()
        _loss(model, x, t).backward()
        optimizer.step()
    after = evaluate()
    assert math.isfinite(after)
    # measured: 260.3 -> 197.3 (24 % lower) after 10 steps; require at least 10 %
    assert after < 0.9 * before, (before, after)
