"""Differentiable distribution distances for realism losses (PyTorch).

:func:`sliced_w2` compares two samples by the squared Wasserstein-2 distance of their
projections on random unit directions (sorted projections, averaged over directions);
:func:`image_patches` turns images into the patch samples that a realism loss compares.
The evaluation statistics with fixed projections are in :mod:`rdlab.metrics.realism`.
"""

from __future__ import annotations

import torch
from torch.nn import functional

__all__ = ["image_patches", "random_directions", "sliced_w2"]


def sliced_w2(
    a: torch.Tensor,
    b: torch.Tensor,
    projections: int = 64,
    generator: torch.Generator | None = None,
    directions: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sliced W2² between equal-size samples, differentiable in both.

    Args:
        a, b: samples ``(..., n, d)`` (leading dimensions are separate pairs of samples).
        projections: random unit directions (drawn from ``generator``, or PyTorch's
            global generator).
        directions: ``(d, k)`` unit directions to use instead (see :func:`directions`).

    Returns:
        The mean over directions (and leading dimensions) of the W2² of the projected
        samples, in squared data units.
    """
    theta = directions
    if theta is None:
        theta = random_directions(a.shape[-1], projections, generator)
    theta = theta.to(a.device, a.dtype)
    pa, _ = torch.sort(a @ theta, dim=-2)
    pb, _ = torch.sort(b @ theta, dim=-2)
    return ((pa - pb) ** 2).mean()


def random_directions(
    dim: int, count: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``count`` random unit vectors in ``dim`` dimensions, as columns ``(dim, count)``."""
    theta = torch.randn(dim, count, generator=generator)
    return theta / theta.norm(dim=0, keepdim=True)


def image_patches(x: torch.Tensor, patch: int = 8, stride: int = 4) -> torch.Tensor:
    """All ``patch``² patches at ``stride`` of images ``x`` (B, C, H, W): ``(B, n, C·patch²)``."""
    cols = functional.unfold(x, kernel_size=patch, stride=stride)
    return cols.transpose(1, 2)
