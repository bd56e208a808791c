"""Lattice transform coding models: analysis MLP -> lattice quantizer -> synthesis MLP.

Two layouts (Lei, Hassani & Saeedi Bidokhti, ICLR 2025):

- **one-shot** (``block=False``): a source vector x ∈ R^d maps to a latent y ∈ R^n,
  n = lattice dimension, quantized as one lattice vector; coordinate j of y has its own
  density channel j.
- **block** (``block=True``): n i.i.d. copies of a d-dimensional source, x of shape
  (n, d), each copy transformed alone to a latent of ``latent_dim`` coordinates; latent
  coordinate c across the n copies is one n-dimensional lattice vector, whose entries
  share density channel c.

Both give the quantizer lattice vectors of shape (batch, L, n) with a channel map (L, n).
Rates are reported in bits per source dimension (per scalar of x).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InputError
from .lattice_quantizer import LatticeQuantizer
from .mixture import GaussianMixtureDensity

__all__ = ["LTCModel", "ResidualMLP"]


class ResidualMLP(nn.Module):
    """y = A·x + MLP(x): a linear map plus a two-hidden-layer GELU MLP whose last layer
    starts at zero (so training starts from the linear map ``init_gain``·I where the
    dimensions allow)."""

    def __init__(self, d_in: int, d_out: int, hidden: int = 64, init_gain: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        with torch.no_grad():
            self.linear.weight.zero_()
            m = min(d_in, d_out)
            self.linear.weight[:m, :m] = init_gain * torch.eye(m)
            self.linear.bias.zero_()
        self.mlp = nn.Sequential(
            nn.Linear(d_in, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, d_out),
        )
        with torch.no_grad():
            self.mlp[-1].weight.zero_()
            self.mlp[-1].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


class LTCModel(nn.Module):
    """Analysis transform, lattice quantizer, factorized mixture density, synthesis.

    Args:
        source_dim: d, dimension of one source vector.
        lattice: an :class:`rdlab.lattice.Lattice` (its dim is n).
        block: block layout (n copies of x per coded item) instead of one-shot.
        latent_dim: block layout only: latent coordinates per copy (default d).
        hidden: width of the MLPs; components: mixture components per channel;
        mc_samples: quasi-MC cell samples for likelihoods; init_gain: initial analysis
        gain (the synthesis starts at its inverse).
    """

    def __init__(
        self,
        source_dim: int,
        lattice: Any,
        *,
        block: bool = False,
        latent_dim: int | None = None,
        hidden: int = 64,
        components: int = 5,
        mc_samples: int = 64,
        init_gain: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        n = lattice.dim
        if source_dim < 1:
            raise InputError("source_dim", "must be >= 1")
        if not block and latent_dim not in (None, n):
            raise InputError("latent_dim", "a one-shot model's latent has the lattice dimension")
        self.source_dim = source_dim
        self.block = block
        self.latent_dim = (latent_dim or source_dim) if block else n
        self.analysis = ResidualMLP(source_dim, self.latent_dim, hidden, init_gain)
        self.synthesis = ResidualMLP(self.latent_dim, source_dim, hidden, 1.0 / init_gain)
        self.quantizer = LatticeQuantizer(lattice, mc_samples=mc_samples, seed=seed)
        self.density = GaussianMixtureDensity(
            self.latent_dim if block else n, components, init_scale=init_gain
        )
        if block:
            ch = torch.arange(self.latent_dim)[:, None].expand(self.latent_dim, n)
        else:
            ch = torch.arange(n)[None, :]
        self.register_buffer("channels", ch.contiguous())

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one coded item: (d,) one-shot, (n, d) block."""
        n = self.quantizer.dim
        return (n, self.source_dim) if self.block else (self.source_dim,)

    @property
    def item_dims(self) -> int:
        """Source scalars per coded item (the denominator of bits per dimension)."""
        return int(torch.tensor(self.item_shape).prod())

    def check_items(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.item_shape or x.ndim != len(self.item_shape) + 1:
            raise InputError(
                "x", f"must have shape (batch, {self.item_shape}), got {tuple(x.shape)}"
            )

    def to_vectors(self, y: torch.Tensor) -> torch.Tensor:
        """Latents -> lattice vectors (batch, L, n)."""
        return y.transpose(1, 2) if self.block else y.unsqueeze(1)

    def from_vectors(self, v: torch.Tensor) -> torch.Tensor:
        return v.transpose(1, 2) if self.block else v.squeeze(1)

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """Per-coordinate log densities (nats) of z (batch, L, [M,] n)."""
        ch = self.channels if z.ndim == 3 else self.channels.unsqueeze(1)
        return self.density.log_prob(z, ch)

    def forward(
        self, x: torch.Tensor, proxy: str = "noise", mc_samples: int | None = 32
    ) -> dict[str, torch.Tensor]:
        """Training pass. ``proxy``: ``"noise"`` (rate and synthesis at y + u, u uniform
        over the cell), ``"mixed"`` (rate at y + u, synthesis at the nearest point with a
        straight-through gradient) or ``"ste"`` (both at the nearest point, straight
        through). Returns ``x_hat`` and ``bits`` per item (log2 cell mass, quasi-MC with
        ``mc_samples`` random cell samples, or the fixed ones when None)."""
        self.check_items(x)
        if proxy not in ("noise", "mixed", "ste"):
            raise InputError("proxy", f"must be 'noise', 'mixed' or 'ste', got {proxy!r}")
        v = self.to_vectors(self.analysis(x))
        hard = None if proxy == "noise" else self.quantizer.quantize(v, straight_through=True)
        rated = hard if proxy == "ste" else self.quantizer.noise(v)
        ll = self.quantizer.log2_likelihood(rated, self.log_density, samples=mc_samples)
        x_hat = self.synthesis(self.from_vectors(rated if hard is None else hard))
        return {"x_hat": x_hat, "bits": -ll.sum(dim=-1)}
