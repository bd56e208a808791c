"""Cutting signals on a regular grid into equal patches, each coded by its own network.

A signal is an array ``(*spatial, channels)`` (image ``(H, W, C)``, audio ``(n, 1)``,
C-alpha trace ``(n, 3)``, video ``(T, H, W, C)``). It is edge-padded to a multiple of the
patch shape and cut into patches in row-major order of the patch grid; every patch is
addressed by the same coordinates, the centres of its samples in ``[-1, 1]`` per axis.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

__all__ = ["from_patches", "patch_coordinates", "patch_grid", "to_patches"]


def patch_coordinates(patch: tuple[int, ...]) -> np.ndarray:
    """``(prod(patch), len(patch))`` float64 sample centres ``-1 + (2i + 1) / p`` per axis,
    row-major (the last axis varies fastest)."""
    axes = [(-1.0 + (2.0 * np.arange(p) + 1.0) / p) for p in patch]
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=-1)


def patch_grid(spatial: tuple[int, ...], patch: tuple[int, ...]) -> tuple[int, ...]:
    """Patches per axis: ``ceil(spatial / patch)``."""
    if len(spatial) != len(patch):
        raise InputError("patch", f"has {len(patch)} axes, the signal {len(spatial)}")
    if any(s < 1 for s in spatial):
        raise InputError("signal", "is empty")
    return tuple(math.ceil(s / p) for s, p in zip(spatial, patch, strict=True))


def to_patches(signal: np.ndarray, patch: tuple[int, ...]) -> np.ndarray:
    """``(*spatial, C)`` to ``(num_patches, prod(patch), C)`` (edge padding)."""
    x = np.asarray(signal)
    spatial = x.shape[:-1]
    grid = patch_grid(spatial, patch)
    pad = [(0, g * p - s) for g, p, s in zip(grid, patch, spatial, strict=True)] + [(0, 0)]
    x = np.pad(x, pad, mode="edge")
    d = len(patch)
    # (g0, p0, g1, p1, ..., C) -> (g0, g1, ..., p0, p1, ..., C)
    x = x.reshape([v for g, p in zip(grid, patch, strict=True) for v in (g, p)] + [x.shape[-1]])
    order = [2 * i for i in range(d)] + [2 * i + 1 for i in range(d)] + [2 * d]
    x = x.transpose(order)
    return x.reshape(math.prod(grid), math.prod(patch), x.shape[-1])


def from_patches(
    patches: np.ndarray, spatial: tuple[int, ...], patch: tuple[int, ...]
) -> np.ndarray:
    """Inverse of :func:`to_patches`: ``(num_patches, prod(patch), C)`` to
    ``(*spatial, C)`` (padding cropped)."""
    grid = patch_grid(spatial, patch)
    x = np.asarray(patches)
    if x.shape[0] != math.prod(grid) or x.shape[1] != math.prod(patch):
        raise InputError("patches", f"shape {x.shape} does not fit {spatial} in {patch}")
    d = len(patch)
    x = x.reshape(list(grid) + list(patch) + [x.shape[-1]])
    order = [v for i in range(d) for v in (i, d + i)] + [2 * d]
    x = x.transpose(order).reshape(
        [g * p for g, p in zip(grid, patch, strict=True)] + [x.shape[-1]]
    )
    return x[tuple(slice(0, s) for s in spatial)]
