"""Differentiable multi-scale SSIM in PyTorch, for training with an MS-SSIM loss.

The same definition as :func:`rdlab.metrics.ms_ssim` (Wang, Simoncelli & Bovik
2003, with the conventions of ``pytorch_msssim``), on batches of float tensors:

* 5 scales with exponents :data:`~rdlab.metrics.MS_SSIM_WEIGHTS`
  ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``;
* an 11-tap Gaussian window (σ = 1.5) applied separably per channel, without padding
  ('valid');
* K1 = 0.01, K2 = 0.03 relative to ``data_range``;
* 2×2 average pooling (stride 2) between scales; an odd side is zero-padded by one
  (the padding is counted in the average), so a side ``s`` becomes ``ceil(s / 2)``;
* the contrast-structure means of scales 1–4 and the SSIM mean of scale 5 are clamped
  at 0 (ReLU) before the weighted product, so fractional powers are always defined;
* per image, the MS-SSIM of each channel is computed separately and the result is
  their mean.

Images must have both sides at least :data:`MS_SSIM_MIN_SIDE` = 161 pixels: after 4
poolings the coarsest scale has side ``ceil(s / 16)``, which must hold the 11-tap window.
Smaller inputs are refused with an :class:`~rdlab.errors.InputError` (no silent
fallback to fewer scales).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from ..errors import InputError
from .image import MS_SSIM_MIN_SIDE, MS_SSIM_WEIGHTS

__all__ = ["MS_SSIM_MIN_SIDE", "ms_ssim"]

_TAPS = 11
_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def _gaussian_taps(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalized 1-D Gaussian window of :data:`_TAPS` samples, σ = :data:`_SIGMA`."""
    offsets = torch.arange(_TAPS, dtype=torch.float64) - _TAPS // 2
    window = torch.exp(-(offsets**2) / (2.0 * _SIGMA * _SIGMA))
    return (window / window.sum()).to(dtype=dtype, device=device)


def _blur(images: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of each channel of ``(B, C, H, W)``."""
    channels = images.shape[1]
    horizontal = taps.view(1, 1, 1, -1).expand(channels, 1, 1, _TAPS)
    vertical = taps.view(1, 1, -1, 1).expand(channels, 1, _TAPS, 1)
    out = functional.conv2d(images, horizontal, groups=channels)
    return functional.conv2d(out, vertical, groups=channels)


def _ssim_terms(
    x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor, c1: float, c2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Means over the valid area of the SSIM map and of the contrast-structure map,
    each ``(B, C)``."""
    mu_x, mu_y = _blur(x, taps), _blur(y, taps)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = _blur(x * x, taps) - mu_xx
    var_y = _blur(y * y, taps) - mu_yy
    cov = _blur(x * y, taps) - mu_xy
    cs_map = (2.0 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def _pool2(images: torch.Tensor) -> torch.Tensor:
    """2×2 average pooling; odd sides padded by one zero (counted), side ``ceil(s / 2)``."""
    padding = [side % 2 for side in images.shape[-2:]]
    return functional.avg_pool2d(images, kernel_size=2, padding=padding)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """MS-SSIM of each image pair in a batch, differentiable in both arguments.

    Args:
        x, y: images ``(B, C, H, W)`` of the same shape and floating dtype, values in
            ``[0, data_range]``; both sides at least :data:`MS_SSIM_MIN_SIDE` (161).
        data_range: the span of the values (1.0 for images in [0, 1]).

    Returns:
        ``(B,)`` tensor of MS-SSIM values in [0, 1] (the mean over channels);
        ``ms_ssim(x, x)`` is exactly 1.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise InputError("x", "ms_ssim takes two torch tensors")
    if x.dim() != 4:
        raise InputError("x", f"must be (B, C, H, W), got shape {tuple(x.shape)}")
    if x.shape != y.shape:
        raise InputError("y", f"shape {tuple(y.shape)} differs from x's {tuple(x.shape)}")
    if not x.is_floating_point() or x.dtype != y.dtype:
        raise InputError("x", f"x and y must share a floating dtype, got {x.dtype}, {y.dtype}")
    if not (math.isfinite(data_range) and data_range > 0):
        raise InputError("data_range", f"must be a positive number, got {data_range!r}")
    height, width = x.shape[-2:]
    if min(height, width) < MS_SSIM_MIN_SIDE:
        raise InputError(
            "x",
            f"is {height}x{width}; MS-SSIM with 5 scales and an 11-tap window needs both "
            f"sides >= {MS_SSIM_MIN_SIDE} pixels",
        )
    taps = _gaussian_taps(x.dtype, x.device)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    levels = len(MS_SSIM_WEIGHTS)
    factors = []
    for level in range(levels):
        ssim_mean, cs_mean = _ssim_terms(x, y, taps, c1, c2)
        if level < levels - 1:
            factors.append(torch.relu(cs_mean))
            x, y = _pool2(x), _pool2(y)
        else:
            factors.append(torch.relu(ssim_mean))
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    per_channel = torch.prod(torch.stack(factors) ** weights, dim=0)  # (B, C)
    return per_channel.mean(dim=1)
