"""The lattice quantizer as a module: training proxies, Monte-Carlo cell likelihoods,
shared dither.

Lattice transform coding (Lei, Hassani & Saeedi Bidokhti, ICLR 2025) quantizes a latent
vector to the nearest point of a lattice Λ ⊂ R^n. Here:

- training proxies: ``"noise"`` adds u uniform over the Voronoi cell V (the additive
  noise model of dithered quantization), ``"ste"`` uses the nearest point in the forward
  pass and the identity in the backward pass;
- the likelihood of a point x (or of a noisy latent) is the latent density's mass over
  the cell around it, estimated by quasi-Monte-Carlo with ``M`` fixed cell samples u_m
  (a scrambled Sobol sequence in the fundamental parallelepiped, reduced to V):
  P(x) ≈ |V|·(1/M)·Σ_m p(x + u_m), averaging the **joint** density p = Π_j p_j;
- subtractive dither at test time: u = t·G with t uniform on [0,1)^n from
  :func:`rdlab.rng.uniforms` (the fundamental parallelepiped: x + u mod Λ is then
  uniform, so the error Q(x + u) − (x + u) is uniform over V and independent of x, as
  with dither over V; and u is computed element-wise in a fixed order, so encoder and
  decoder regenerate the same bits without a nearest-point search).

Shapes: latents (..., n) with n = lattice.dim. Rates in bits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import qmc
from torch import nn

from .. import rng
from ..errors import InputError

__all__ = ["LatticeQuantizer", "parallelepiped_dither"]


def parallelepiped_dither(generator: np.ndarray, seed: int, stream: int, count: int) -> np.ndarray:
    """(count, n) float64 dither t @ G with t ~ U[0,1)^n from the shared generator (block
    0 of ``stream``), summed in a fixed order: identical on every machine."""
    n = generator.shape[0]
    t = rng.uniforms(seed, stream, 0, (count, n))
    out = np.zeros((count, n))
    for i in range(n):
        out = out + t[:, i : i + 1] * generator[i][None, :]
    return out


class LatticeQuantizer(nn.Module):
    """Quantize (..., n) latents to the lattice ``lattice`` (an :class:`rdlab.lattice.Lattice`).

    ``mc_samples``: number of fixed quasi-MC cell samples for likelihoods (stored as a
    float64 buffer, so a saved model carries them); ``bank``: size of the pool of
    uniform cell samples that the ``"noise"`` proxy draws from."""

    def __init__(self, lattice: Any, mc_samples: int = 64, seed: int = 0, bank: int = 16384):
        super().__init__()
        if mc_samples < 1 or bank < 1:
            raise InputError("mc_samples", "mc_samples and bank must be >= 1")
        self.lattice = lattice
        n = lattice.dim
        gen = lattice.generator.detach().to(torch.float64)
        self.register_buffer("generator", gen)
        sobol = qmc.Sobol(d=n, scramble=True, seed=seed)
        t = torch.from_numpy(sobol.random(mc_samples))
        u = t @ gen
        self.register_buffer("cell_samples", u - lattice.nearest(u))
        g = torch.Generator().manual_seed(seed + 1)
        self.register_buffer("noise_bank", lattice.sample_voronoi(bank, generator=g))
        self.log_volume = float(math.log(lattice.volume))

    @property
    def dim(self) -> int:
        return int(self.lattice.dim)

    def noise(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """y + u, u uniform over the Voronoi cell (drawn from the bank)."""
        idx = torch.randint(
            0, self.noise_bank.shape[0], y.shape[:-1], generator=generator, device=y.device
        )
        return y + self.noise_bank[idx].to(y.dtype)

    def quantize(self, y: torch.Tensor, straight_through: bool = False) -> torch.Tensor:
        """Nearest lattice point (float64 search); with ``straight_through`` the gradient
        passes as if it were the identity."""
        q = self.lattice.nearest(y.detach().to(torch.float64)).to(y.dtype)
        return y + (q - y).detach() if straight_through else q

    def coefficients(self, points: torch.Tensor) -> torch.Tensor:
        """Integer coefficients k (int64) of lattice points (..., n): points = k @ G."""
        return self.lattice.coefficients(points.detach().to(torch.float64))

    def log2_likelihood(
        self,
        x: torch.Tensor,
        log_density: Any,
        samples: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log2 of the density's mass over the cell centred at x (..., n) -> (...),
        by quasi-MC over the fixed cell samples (or ``samples`` random ones from the bank
        when given: cheaper and unbiased for training). ``log_density(z)`` maps (..., M, n)
        to per-coordinate log densities (nats), summed here over the coordinates."""
        if samples is None:
            u = self.cell_samples
        else:
            idx = torch.randint(0, self.noise_bank.shape[0], (samples,), generator=generator)
            u = self.noise_bank[idx]
        z = x.unsqueeze(-2) + u.to(x.dtype)
        joint = log_density(z).sum(dim=-1)  # (..., M) log p(x + u_m)
        m = joint.shape[-1]
        return (torch.logsumexp(joint, dim=-1) - math.log(m) + self.log_volume) / math.log(2.0)
