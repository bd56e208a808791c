"""Per-channel Gaussian-mixture densities for latents, trainable and tabulable.

A factorized latent density p(y) = Π_c p_c(y_c) with each p_c a mixture of K Gaussians
(weights by softmax of logits, means, log scales). Training uses :meth:`log_prob` in
torch; coding uses :meth:`tabulate`, which evaluates the same mixture in float64 with
:mod:`rdlab.detmath` (bit-identical on every machine) on a uniform grid covering the
mass 1 − 2^-40, for :mod:`rdlab.coding.lattice_points`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .. import detmath
from ..coding.lattice_points import TabulatedDensity
from ..errors import InputError

__all__ = ["GaussianMixtureDensity"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
#: half-width of the tabulated support, in component scales beyond the extreme means
#: (Gaussian tail mass beyond 7.3σ is < 2^-40)
_TAIL_SCALES = 7.3


class GaussianMixtureDensity(nn.Module):
    """``channels`` independent 1-D mixtures of ``components`` Gaussians.

    ``log_prob(y, channels)``: natural-log density (nats) of ``y`` (..., n) where
    coordinate i uses channel ``channels[..., i]`` (broadcast to y's shape)."""

    def __init__(self, channels: int, components: int = 3, init_scale: float = 1.0) -> None:
        super().__init__()
        if channels < 1 or components < 1:
            raise InputError("channels", "channels and components must be >= 1")
        spread = torch.linspace(-0.2, 0.2, components) * init_scale
        self.logits = nn.Parameter(torch.zeros(channels, components))
        self.means = nn.Parameter(spread.repeat(channels, 1))
        self.log_scales = nn.Parameter(torch.full((channels, components), math.log(init_scale)))

    @property
    def channels(self) -> int:
        return int(self.logits.shape[0])

    def log_prob(self, y: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
        """log p_{channels}(y), nats, same shape as ``y``."""
        ch = torch.broadcast_to(channels, y.shape)
        logw = torch.log_softmax(self.logits, dim=-1)[ch]
        mu = self.means[ch]
        log_s = self.log_scales.clamp(-12.0, 8.0)[ch]
        z = (y.unsqueeze(-1).to(mu.dtype) - mu) * torch.exp(-log_s)
        comp = logw - 0.5 * z * z - log_s - _LOG_SQRT_2PI
        return torch.logsumexp(comp, dim=-1)

    def parameters_float64(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits, means, log scales) as float64 NumPy arrays (exact copies)."""
        with torch.no_grad():
            return (
                self.logits.detach().cpu().double().numpy().copy(),
                self.means.detach().cpu().double().numpy().copy(),
                self.log_scales.detach().clamp(-12.0, 8.0).cpu().double().numpy().copy(),
            )

    def tabulate(self, points: int = 4097) -> TabulatedDensity:
        """The mixtures on uniform grids of ``points`` values each (deterministic)."""
        return tabulate_mixture(*self.parameters_float64(), points=points)


def tabulate_mixture(
    logits: np.ndarray, means: np.ndarray, log_scales: np.ndarray, points: int = 4097
) -> TabulatedDensity:
    """Deterministic float64 tables of Gaussian mixtures (shapes (C, K)): grid from the
    lowest mean − 7.3 scales to the highest mean + 7.3 scales, ``points`` values."""
    channels, comps = logits.shape
    scales = detmath.exp(log_scales)
    lo = np.min(means - _TAIL_SCALES * scales, axis=1)  # min/max are exact reductions
    hi = np.max(means + _TAIL_SCALES * scales, axis=1)
    step = (hi - lo) / (points - 1)
    grid = lo[:, None] + np.arange(points)[None, :] * step[:, None]
    top = np.max(logits, axis=1)
    weights = detmath.exp(logits - top[:, None])
    total = np.zeros(channels)
    for k in range(comps):
        total = total + weights[:, k]
    weights = weights / total[:, None]
    inv_sqrt_2pi = 0.3989422804014327  # correctly rounded 1/sqrt(2π)
    density = np.zeros((channels, points))
    for k in range(comps):
        z = (grid - means[:, k : k + 1]) / scales[:, k : k + 1]
        density = density + (weights[:, k : k + 1] * inv_sqrt_2pi / scales[:, k : k + 1]) * (
            detmath.exp(-0.5 * (z * z))
        )
    return TabulatedDensity.from_values(lo, step, density)
