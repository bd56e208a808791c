"""Entropy models of learned image codecs: rates in bits, differentiable for training.

* :class:`FactorizedDensity` — the non-parametric, per-channel density of Ballé et al.
  (2018, appendix 6.1) for the hyper-latent: a monotone map ``c(x)`` per channel whose
  sigmoid is the CDF. The mass of an integer bin ``[k - 1/2, k + 1/2)`` is its
  likelihood; :meth:`FactorizedDensity.integer_tables` tabulates those masses once, as
  integer frequency tables that are stored with the model (never recomputed from floats
  at decode time).
* :func:`gaussian_bin_likelihood` — the mean-scale Gaussian conditional: the mass of the
  bin of width 1 around ``v = y - mu`` under ``N(0, sigma^2)``;
  :func:`location_scale_bin_likelihood` the same for the Laplace and logistic families.

The modules that code with these densities (training proxy, integer tables, bytes) are
in :mod:`rdlab.nn.entropy`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from .gdn import lower_bound

__all__ = [
    "LIKELIHOOD_FLOOR",
    "SCALE_FLOOR",
    "FactorizedDensity",
    "gaussian_bin_likelihood",
    "location_scale_bin_likelihood",
]

LIKELIHOOD_FLOOR = 1e-9
"""Smallest likelihood a bin is given in training (caps a bin's cost at ~30 bits)."""

SCALE_FLOOR = 0.11
"""Smallest Gaussian scale (the first entry of the coding table)."""


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x * (1.0 / math.sqrt(2.0)))


def _std_laplace_cdf(x: torch.Tensor) -> torch.Tensor:
    half_tail = 0.5 * torch.exp(-torch.abs(x))
    return torch.where(x <= 0, half_tail, 1.0 - half_tail)


_CDFS = {"gaussian": _std_normal_cdf, "laplace": _std_laplace_cdf, "logistic": torch.sigmoid}


def gaussian_bin_likelihood(
    y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor
) -> torch.Tensor:
    """Mass of ``[y - 1/2, y + 1/2)`` under ``N(means, scales^2)`` (scales floored at 0.11).

    Computed on the lower tail (``|y - mean|``) for precision; floored at 1e-9.
    """
    return location_scale_bin_likelihood(y, means, scales)


def location_scale_bin_likelihood(
    y: torch.Tensor,
    means: torch.Tensor | None,
    scales: torch.Tensor,
    family: str = "gaussian",
    scale_floor: float = SCALE_FLOOR,
) -> torch.Tensor:
    """Mass of ``[y - 1/2, y + 1/2)`` under a location-scale ``family`` at ``means``
    (``None``: 0) with ``scales`` floored at ``scale_floor`` (latent units).

    Args:
        y, means, scales: tensors of one shape (any).
        family: ``"gaussian"`` (scale: the standard deviation), ``"laplace"`` (the
            diversity ``b``) or ``"logistic"`` (``s`` of the CDF ``1/(1 + exp(-x/s))``),
            as in :data:`rdlab.coding.tables.FAMILIES`.

    Returns:
        the masses, shaped like ``y``, floored at 1e-9 (computed on the lower tail,
        ``|y - mean|``, for precision).
    """
    cdf = _CDFS[family]
    sigma = lower_bound(scales, scale_floor)
    v = torch.abs(y - means) if means is not None else torch.abs(y)
    upper = cdf((0.5 - v) / sigma)
    lower = cdf((-0.5 - v) / sigma)
    return lower_bound(upper - lower, LIKELIHOOD_FLOOR)


class FactorizedDensity(nn.Module):
    """Per-channel learned density over the reals, as a monotone cumulative network.

    Args:
        channels: number of channels C (each has its own density).
        filters: hidden widths of the cumulative network.
        init_scale: initial width of the densities (in latent units).

    Input layout: ``(B, C, H, W)``.
    """

    def __init__(
        self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0
    ) -> None:
        super().__init__()
        self.channels = channels
        widths = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(widths) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(widths) - 1):
            init = math.log(math.expm1(1.0 / scale / widths[k + 1]))
            self.matrices.append(
                nn.Parameter(torch.full((channels, widths[k + 1], widths[k]), init))
            )
            self.biases.append(nn.Parameter(torch.rand(channels, widths[k + 1], 1) - 0.5))
            if k < len(widths) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[k + 1], 1)))

    def cumulative_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``c(x)`` for ``x`` of shape ``(C, 1, n)``; returns ``(C, 1, n)``."""
        h = x
        for k, (matrix, bias) in enumerate(zip(self.matrices, self.biases, strict=True)):
            h = torch.matmul(functional.softplus(matrix), h) + bias
            if k < len(self.factors):
                h = h + torch.tanh(self.factors[k]) * torch.tanh(h)
        return h

    def _channel_major(self, z: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        b, c, hh, ww = z.shape
        return z.permute(1, 0, 2, 3).reshape(c, 1, b * hh * ww), (b, c, hh, ww)

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """Mass of ``[z - 1/2, z + 1/2)`` per element of ``z`` ``(B, C, H, W)``, floored at 1e-9."""
        flat, (b, c, hh, ww) = self._channel_major(z)
        lower = self.cumulative_logits(flat - 0.5)
        upper = self.cumulative_logits(flat + 0.5)
        # evaluate on the side where the masses are small (precision in the tails)
        sign = -torch.sign(lower + upper).detach()
        mass = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        mass = lower_bound(mass, LIKELIHOOD_FLOOR)
        return mass.reshape(c, b, hh, ww).permute(1, 0, 2, 3)

    @torch.no_grad()
    def integer_tables(
        self, tail_mass: float = 1e-9, max_support: int = 2048
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bin masses of every channel on the integers that carry the mass.

        Returns ``(offsets, masses)``: ``offsets[c]`` is the integer of ``masses[c, 0]``;
        ``masses`` is ``(C, L)`` float64 (rows padded with zeros), each row's support
        covering all but ``tail_mass`` of the channel's density (capped at ``max_support``
        integers; values outside are escaped by the coder).
        """
        device = self.matrices[0].device
        grid = torch.arange(
            -(max_support // 2), max_support // 2 + 1, device=device, dtype=torch.float64
        )
        edges = torch.cat([grid - 0.5, grid[-1:] + 0.5]).to(torch.float32)
        logits = self.cumulative_logits(edges.view(1, 1, -1).expand(self.channels, 1, -1))
        cdf = torch.sigmoid(logits.double()).squeeze(1).cpu().numpy()  # (C, L+1)
        masses = np.diff(cdf, axis=1).clip(min=0.0)
        grid_np = grid.cpu().numpy().astype(np.int64)
        offsets, rows = [], []
        for c in range(self.channels):
            lo = int(np.searchsorted(cdf[c], tail_mass / 2, side="right")) - 1
            hi = int(np.searchsorted(cdf[c], 1.0 - tail_mass / 2, side="left"))
            lo, hi = max(lo, 0), min(max(hi, lo + 1), masses.shape[1])
            offsets.append(int(grid_np[lo]))
            rows.append(masses[c, lo:hi])
        width = max(r.size for r in rows)
        table = np.zeros((self.channels, width))
        for c, r in enumerate(rows):
            table[c, : r.size] = r
        return np.asarray(offsets, dtype=np.int64), table
