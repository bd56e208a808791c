"""Realism statistics that need no pretrained network: how close the *distribution* of
local image structure in a reconstruction is to the original's.

- :func:`patch_sliced_w2`: sliced W2² between the sets of 8×8 luma patches of two
  images (all patches on a stride-4 grid; fixed random directions from ``seed``), in
  squared [0, 1] luma units. A blurred reconstruction lacks the spread of textured
  patches and scores high; a sample with the original's texture statistics scores near
  the floor set by two different patch draws of the same image.
- :func:`detail_ratio`: energy of the Laplacian of the reconstruction's luma over the
  original's (1 = as much fine detail; a blurred image is below 1, added noise above).

Both compare statistics, not pixels, so they reward texture that is *like* the
original's even where it is not the original's (which PSNR penalizes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import laplace

from ..errors import InputError
from .image import _image_pair, _luma

__all__ = ["detail_ratio", "patch_sliced_w2"]


def _luma_of(image: np.ndarray) -> np.ndarray:
    """Luma (0..255 float) of a checked (H, W) or (H, W, 1 or 3) image."""
    if image.ndim == 2:
        return image
    return image[:, :, 0] if image.shape[2] == 1 else _luma(image)


def _patches(y: np.ndarray, patch: int, stride: int) -> np.ndarray:
    windows = sliding_window_view(y, (patch, patch))[::stride, ::stride]
    return windows.reshape(-1, patch * patch)


def patch_sliced_w2(
    reference: Any,
    distorted: Any,
    patch: int = 8,
    stride: int = 4,
    projections: int = 256,
    seed: int = 0,
) -> float:
    """Sliced W2² between the luma patch sets of two 8-bit images of the same size.

    Args:
        reference, distorted: uint8 images (H, W, 3) or (H, W), the same shape, each
            side at least ``patch``.
        patch, stride: patch side and grid step in pixels.
        projections: random unit directions (a fixed NumPy generator seeded by ``seed``).

    Returns:
        Mean over directions of the W2² of the projected patch values, luma in [0, 1].

    Raises:
        InputError: not 8-bit images of one shape, or smaller than a patch.
    """
    ref, dis = _image_pair(reference, distorted)
    if min(ref.shape[:2]) < patch:
        raise InputError("reference", f"is smaller than a {patch}x{patch} patch")
    a, b = (_patches(_luma_of(v) / 255.0, patch, stride) for v in (ref, dis))
    theta = np.random.default_rng(seed).standard_normal((patch * patch, projections))
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    pa = np.sort(a @ theta, axis=0)
    pb = np.sort(b @ theta, axis=0)
    return float(np.mean((pa - pb) ** 2))


def detail_ratio(reference: Any, distorted: Any) -> float:
    """Laplacian energy of the distorted luma over the reference's (1 = equal detail).

    Raises:
        InputError: not 8-bit images of one shape.
    """
    ref, dis = _image_pair(reference, distorted)
    energy = [float(np.mean(laplace(_luma_of(v).astype(np.float64)) ** 2)) for v in (ref, dis)]
    return energy[1] / max(energy[0], 1e-12)
