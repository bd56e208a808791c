"""Encoder-side latent refinement: optimize one image's latents for ``R + λ·D``.

An amortized analysis transform ``g_a`` gives latents that are good on average, not the
best the decoder could be sent for *this* image (the amortization gap). Refinement
starts from ``y = g_a(x)·gain(t)`` and ``z = h_a(y)`` and runs Adam on ``(y, z)`` themselves
for the image's own loss (Campos et al. 2019; Yang, Bamler and Mandt 2020)::

    loss = λ(t)·255²·MSE(x, x̂) + (bits(ŷ | ẑ) + bits(ẑ)) / pixels      [bits per pixel]

with the rounding of ``z`` and ``y - μ`` relaxed by **stochastic Gumbel annealing**
(SGA, Yang et al. 2020): each value is a Gumbel-softmax mix of its floor and its ceiling,
with logits ``-atanh(distance)/τ`` and a temperature ``τ`` annealed from 0.5 towards
0.05 over the steps, so the relaxation becomes hard rounding by the end. The decoder is
untouched: the refined ``y`` and ``z`` are quantized and coded exactly like the
analysis' output, so every decoder reads the files, bit-exactly as before.

Rates are those of the model's float entropy models (the latent codec's ``h_s_scales``,
its entropy bottleneck's density and its conditional's family; the Gaussian for lattice
latents: the training weights), which track the integer tables the coder uses to within
a few per cent. The MSE counts only the image's own pixels, not the padding.

Large images are refined in bands of latent rows (each band with fixed neighbouring
rows as context), so memory stays bounded like the tiled transforms.

Randomness (the Gumbel noise) comes from a seeded generator: the same image, settings
and machine give the same file. Across machines the refined latents may differ in the
last float bits (the file is then different but equally valid: decoding is exact).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .entropy import LocationScaleConditional
from .entropy_models import gaussian_bin_likelihood
from .image_model import HyperpriorImageModel

__all__ = [
    "RefinementSettings",
    "annealed_soft_round",
    "refine_latents",
    "refinement_bands",
    "temperature_at",
]

Z_ROWS_PER_Y_ROW = 4
"""The hyper-latent has one row per 4 latent rows."""
Z_HALO = 2
"""Hyper-latent rows of fixed context above and below a band (h_s reaches ~1.5 rows)."""
Y_HALO = 2
"""Latent rows of fixed context synthesized above and below a band (g_s reaches 1.875)."""


@dataclass(frozen=True)
class RefinementSettings:
    """How hard to refine.

    Attributes:
        steps: Adam steps per band (0: no refinement). About 1 s per step for a
            640×426 photo on 2 cores.
        learning_rate: Adam step size, in latent units.
        start_temperature: SGA temperature at the first step.
        end_temperature: SGA temperature at the last step.
        seed: seed of the Gumbel noise.
        band_pixels: about this many pixels per band. Memory: about 1.5 kB per pixel of
            a band (measured: 1024×1024 in one band peaks 1.4 GiB above the model and
            image, in 4 bands 0.6 GiB).
    """

    steps: int = 100
    learning_rate: float = 0.02
    start_temperature: float = 0.5
    end_temperature: float = 0.05
    seed: int = 0
    band_pixels: int = 1 << 20

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not (0 < self.end_temperature <= self.start_temperature):
            raise ValueError("temperatures must satisfy 0 < end <= start")


def temperature_at(step: int, settings: RefinementSettings) -> float:
    """SGA temperature at ``step`` (0-based): geometric from start to end temperature."""
    if settings.steps <= 1:
        return settings.end_temperature
    frac = step / (settings.steps - 1)
    return (
        settings.start_temperature * (settings.end_temperature / settings.start_temperature) ** frac
    )


def annealed_soft_round(
    v: torch.Tensor, temperature: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """SGA relaxation of ``round(v)``: a Gumbel-softmax mix of ``floor(v)`` and ``ceil(v)``.

    The logit of each neighbour is ``-atanh(d)/τ`` with ``d`` its distance (in ``[0, 1]``),
    so the nearer integer is more likely, and as ``τ → 0`` the output tends to hard
    rounding. Differentiable in ``v`` (the floor is a constant). Same shape as ``v``.
    """
    low = torch.floor(v).detach()
    d = v - low
    eps = 1e-5
    logit_low = -torch.atanh(d.clamp(eps, 1 - eps)) / temperature
    logit_high = -torch.atanh((1 - d).clamp(eps, 1 - eps)) / temperature
    uniform = torch.rand((*v.shape, 2), generator=generator, dtype=v.dtype)
    gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-12)))
    logits = torch.stack((logit_low, logit_high), dim=-1) + gumbel
    weight_high = torch.softmax(logits, dim=-1)[..., 1]
    return low + weight_high


def _band_z_rows(z_width: int, settings: RefinementSettings) -> int:
    """Hyper-latent rows per band: about ``settings.band_pixels`` pixels."""
    return max(1, settings.band_pixels // max(1, 64 * 64 * z_width))


def _bands(z_rows: int, band_z_rows: int) -> list[tuple[int, int]]:
    return [(s, min(s + band_z_rows, z_rows)) for s in range(0, z_rows, band_z_rows)]


def refinement_bands(y_shape: tuple[int, ...], settings: RefinementSettings) -> int:
    """Number of bands a latent of shape ``(1, M, h, w)`` is refined in."""
    z_rows, z_width = -(-y_shape[2] // Z_ROWS_PER_Y_ROW), -(-y_shape[3] // Z_ROWS_PER_Y_ROW)
    return len(_bands(z_rows, _band_z_rows(z_width, settings)))


def refine_latents(
    net: HyperpriorImageModel,
    x: torch.Tensor,
    t: float,
    height: int,
    width: int,
    settings: RefinementSettings,
    start: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Refined ``(y, z)`` for the padded image ``x`` (1, 3, H, W) in [0, 1] at rate ``t``.

    Args:
        net: the model with its training weights (the latent codec's ``h_s_scales``
            and entropy bottleneck).
        x: the padded image; ``height``, ``width``: the image's own size (the MSE counts
            ``x[..., :height, :width]`` only).
        t: rate parameter in ``[0, K-1]``.
        settings: steps, learning rate, temperatures, seed, band size.
        start: the analysis' ``(y, z)``, if already computed: the gained latent
            ``g_a(x)·gain(t)`` (1, M, H/16, W/16) and ``h_a(y)`` (1, N, H/64, W/64).
        progress: called with the number of steps done after each step.

    Returns:
        the refined gained latent ``y`` (1, M, H/16, W/16) and the continuous
        hyper-latent ``z`` (1, N, H/64, W/64), both float32, to be quantized by the codec.
    """
    tt = torch.tensor([float(t)], dtype=torch.float32)
    codec = net.latent_codec
    conditional = codec.conditional

    def bin_likelihood(y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        if isinstance(conditional, LocationScaleConditional):
            return conditional.likelihood(y, scales, means)
        return gaussian_bin_likelihood(y, means, scales)

    with torch.no_grad():
        if start is None:
            y = net.analyze(x, tt)
            start = (y, codec.h_a(y))
        y, z = (v.detach().clone() for v in start)
    if settings.steps == 0:
        return y, z
    lmbda = float(net.lambdas_at(tt)[0])
    _, inv_gain = net.gains(tt)
    inv_gain = inv_gain.detach()
    pixels = float(height * width)
    z_rows = z.shape[2]
    band_z_rows = _band_z_rows(z.shape[3], settings)
    generator = torch.Generator().manual_seed(settings.seed)
    target = x[..., :height, :width]
    steps_done = 0
    for z0, z1 in _bands(z_rows, band_z_rows):
        c0, c1 = max(0, z0 - Z_HALO), min(z_rows, z1 + Z_HALO)  # context rows of z
        y_own = y[:, :, 4 * z0 : 4 * z1].clone().requires_grad_(True)
        z_own = z[:, :, z0:z1].clone().requires_grad_(True)
        optimizer = torch.optim.Adam([y_own, z_own], lr=settings.learning_rate)
        for step in range(settings.steps):
            tau = temperature_at(step, settings)
            optimizer.zero_grad(set_to_none=True)
            z_soft = torch.cat(
                (
                    torch.round(z[:, :, c0:z0]),
                    annealed_soft_round(z_own, tau, generator),
                    torch.round(z[:, :, z1:c1]),
                ),
                dim=2,
            )
            means = codec.h_s_means(z_soft)
            scales = codec.h_s_scales(z_soft)
            # latent rows synthesized: this band's own rows and Y_HALO fixed rows each side
            own_top, own_bottom = 4 * z0, 4 * z1
            lo, hi = max(0, own_top - Y_HALO), min(y.shape[2], own_bottom + Y_HALO)
            mu = means[:, :, lo - 4 * c0 : hi - 4 * c0]
            a, b = own_top - lo, own_bottom - lo  # own rows within [lo, hi)
            y_soft = (
                torch.cat(
                    (
                        torch.round(y[:, :, lo:own_top] - mu[:, :, :a]),
                        annealed_soft_round(y_own - mu[:, :, a:b], tau, generator),
                        torch.round(y[:, :, own_bottom:hi] - mu[:, :, b:]),
                    ),
                    dim=2,
                )
                + mu
            )
            own_scales = scales[:, :, own_top - 4 * c0 : own_bottom - 4 * c0]
            bits_y = -torch.log2(bin_likelihood(y_soft[:, :, a:b], mu[:, :, a:b], own_scales)).sum()
            z_own_soft = z_soft[:, :, z0 - c0 : z1 - c0]
            bits_z = -torch.log2(codec.entropy_bottleneck.likelihood(z_own_soft)).sum()
            x_hat = net.g_s(y_soft * inv_gain)
            # pixel rows of this band's own latents, inside the image
            top, bottom = 64 * z0, min(64 * z1, height)
            if bottom > top:
                rows = slice(top - 16 * lo, bottom - 16 * lo)
                err = x_hat[:, :, rows, :width].clamp(0.0, 1.0)
                sq = (err - target[:, :, top:bottom]).square().sum() / 3.0
            else:
                sq = x_hat.new_zeros(())
            loss = (lmbda * 255.0**2 * sq + bits_y + bits_z) / pixels
            loss.backward()
            optimizer.step()
            steps_done += 1
            if progress is not None:
                progress(steps_done)
        with torch.no_grad():
            y[:, :, 4 * z0 : 4 * z1] = y_own.detach()
            z[:, :, z0:z1] = z_own.detach()
    return y, z
