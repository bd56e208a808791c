"""Image quality metrics on 8-bit images: PSNR, PSNR-Y, MS-SSIM, bits per pixel.

Conventions shared by every image metric here:

- An image is a NumPy array (or anything :func:`numpy.asarray` accepts, torch tensors
  included) of shape ``(H, W)`` (greyscale) or ``(H, W, C)`` with ``C`` in {1, 3}
  (channels last, RGB), on the **0..255 scale**.
- Integer images must hold values in 0..255 (any integer dtype). Floating images are
  first **clipped to [0, 255] and rounded to the nearest integer** (``numpy.rint``,
  ties to even), so a float reconstruction is scored as the 8-bit image it would be
  saved as. Floats on a 0..1 scale are *not* detected: scale them by 255 first.
- Integer and floating inputs cannot be mixed in one call (a uint8 reference against a
  float reconstruction is the classic 0..1-versus-0..255 bug); convert one of them.
- Shapes must match exactly; NaN and infinity are refused. Every refusal is an
  :class:`rdlab.errors.InputError` naming the argument.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from scipy.ndimage import correlate1d

from .._arrays import same_shape, to_numpy
from ..errors import InputError

__all__ = [
    "MS_SSIM_MIN_SIDE",
    "MS_SSIM_WEIGHTS",
    "bits_per_pixel",
    "ms_ssim",
    "ms_ssim_db",
    "psnr",
    "psnr_y",
]

#: Per-scale exponents of MS-SSIM (Wang, Simoncelli & Bovik 2003), finest scale first.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW_TAPS = 11
_WINDOW_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
_DATA_RANGE = 255.0

#: Smallest image side MS-SSIM accepts. Each of the 4 poolings maps a side ``s`` to
#: ``ceil(s / 2)`` (odd sides are padded, see :func:`_pool2`), so the coarsest scale has
#: side ``ceil(s / 16)``, which must hold the 11-tap valid window: ``ceil(s / 16) >= 11``
#: exactly when ``s >= 161`` (``ceil(160 / 16) = 10``, ``ceil(161 / 16) = 11``).
MS_SSIM_MIN_SIDE = 161

# BT.601 luma weights on full-range (0..255) R′G′B′.
_BT601_LUMA = np.array([0.299, 0.587, 0.114])


def _as_8bit(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 image of integers in 0..255 (see the module docstring)."""
    array = to_numpy(value, name)
    kind = array.dtype.kind
    if kind not in "iuf":
        raise InputError(name, f"must be an integer or floating image, got dtype {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3)):
        raise InputError(name, f"must have shape (H, W) or (H, W, 1 or 3), got {array.shape}")
    if array.size == 0:
        raise InputError(name, f"is empty (shape {array.shape})")
    if kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise InputError(name, f"holds integers outside 0..255 (from {low} to {high})")
        return array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(name, "holds NaN or infinite values")
    return np.rint(np.clip(array.astype(np.float64), 0.0, 255.0))


def _image_pair(reference: Any, distorted: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both images checked and converted; same shape and same dtype family."""
    ref_raw = to_numpy(reference, "reference")
    dis_raw = to_numpy(distorted, "distorted")
    ref = _as_8bit(ref_raw, "reference")
    dis = _as_8bit(dis_raw, "distorted")
    same_shape(ref_raw, "reference", dis_raw, "distorted")
    ref_float = ref_raw.dtype.kind == "f"
    if ref_float != (dis_raw.dtype.kind == "f"):
        raise InputError(
            "distorted",
            f"has dtype {dis_raw.dtype} but reference has dtype {ref_raw.dtype}: integer and "
            "floating images cannot be mixed (convert both to uint8, or both to float on 0..255)",
        )
    return ref, dis


def _psnr_from_mse(mse: float, peak: float) -> float:
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak * peak / mse)


def psnr(reference: Any, distorted: Any, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of two 8-bit images.

    ``10 * log10(peak**2 / MSE)`` where the MSE is the mean over **all** ``H * W * C``
    samples (one MSE over the RGB channels together, not a mean of per-channel PSNRs).
    Images of shape ``(H, W)`` or ``(H, W, 3)``, prepared as in the module docstring
    (floats rounded and clipped to 0..255 first). Identical images give ``math.inf``.
    """
    if isinstance(peak, bool) or not (
        isinstance(peak, numbers.Real) and math.isfinite(peak) and peak > 0
    ):
        raise InputError("peak", f"must be a positive finite number, got {peak!r}")
    ref, dis = _image_pair(reference, distorted)
    return _psnr_from_mse(float(np.mean((ref - dis) ** 2)), float(peak))


def psnr_integer(reference: Any, distorted: Any) -> float:
    """PSNR in dB of two integer images at their samples' own peak: 255 for uint8,
    65535 for uint16 (both the same dtype); ``math.inf`` when identical.

    Raises:
        InputError: on ``distorted``: another dtype or shape than ``reference``, or a
            dtype other than uint8 and uint16.
    """
    ref, dis = to_numpy(reference, "reference"), to_numpy(distorted, "distorted")
    if ref.dtype != dis.dtype or ref.dtype not in (np.uint8, np.uint16):
        raise InputError(
            "distorted",
            f"has {dis.dtype}, the reference {ref.dtype}: both must be uint8 or both uint16",
        )
    if ref.dtype == np.uint8:
        return psnr(ref, dis)
    same_shape(ref, "reference", dis, "distorted")
    mse = float(np.mean((ref.astype(np.float64) - dis.astype(np.float64)) ** 2))
    return _psnr_from_mse(mse, 65535.0)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 Y′ (0..255, not rounded) of an ``(H, W, 3)`` float image."""
    return rgb @ _BT601_LUMA


def psnr_y(reference: Any, distorted: Any) -> float:
    """PSNR in dB (peak 255) of the luma Y′ of full-range BT.601 YCbCr.

    ``Y′ = 0.299 R + 0.587 G + 0.114 B`` on the 0..255 scale, computed from the 8-bit RGB
    images (floats rounded and clipped to 0..255 first). Y′ is **not** rounded to 8 bits:
    the metric scores the RGB images through the luma weights and adds no quantization
    error of its own. Both images must have shape ``(H, W, 3)``.
    Identical images give ``math.inf``.
    """
    ref, dis = _image_pair(reference, distorted)
    if ref.ndim != 3 or ref.shape[2] != 3:
        raise InputError("reference", f"must be an RGB image (H, W, 3), got shape {ref.shape}")
    diff = _luma(ref) - _luma(dis)
    return _psnr_from_mse(float(np.mean(diff * diff)), _DATA_RANGE)


def _gaussian_window(taps: int = _WINDOW_TAPS, sigma: float = _WINDOW_SIGMA) -> np.ndarray:
    """Normalized 1-D Gaussian of ``taps`` samples centred on the middle one."""
    offsets = np.arange(taps, dtype=np.float64) - taps // 2
    window = np.exp(-(offsets**2) / (2.0 * sigma * sigma))
    return window / window.sum()


def _filter_valid(images: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of ``(..., H, W)`` along the last two axes.

    SciPy's 1-D correlation runs in C; the border samples it pads are cropped away, so
    only positions where the whole window lies inside the image remain.
    """
    half = window.size // 2
    rows = correlate1d(images, window, axis=-2, mode="constant")[..., half:-half, :]
    return correlate1d(rows, window, axis=-1, mode="constant")[..., half:-half]


def _ssim_terms(x: np.ndarray, y: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and mean contrast-structure term of ``(C, H, W)`` images."""
    c1 = (_K1 * _DATA_RANGE) ** 2
    c2 = (_K2 * _DATA_RANGE) ** 2
    stacked = _filter_valid(np.stack([x, y, x * x, y * y, x * y]), window)
    mu_x, mu_y, xx, yy, xy = stacked
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    cs_map = (2.0 * (xy - mu_xy) + c2) / ((xx - mu_xx) + (yy - mu_yy) + c2)
    ssim_map = (2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs_map
    return ssim_map.mean(axis=(-2, -1)), cs_map.mean(axis=(-2, -1))


def _pool2(images: np.ndarray) -> np.ndarray:
    """2x2 average pooling (stride 2) of ``(C, H, W)``; an odd side gets one zero
    prepended first (counted in the average), so a side ``s`` becomes ``ceil(s / 2)``.

    This is the convention of ``pytorch_msssim`` (``avg_pool2d(kernel_size=2,
    padding=s % 2)`` with zero padding counted): with padding 1 the first output averages
    a zero with the first sample and the trailing pad is never reached.
    """
    pad = [(0, 0)] + [(side % 2, 0) for side in images.shape[-2:]]
    padded = np.pad(images, pad)
    c, h, w = padded.shape
    return padded.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def ms_ssim(reference: Any, distorted: Any) -> float:
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) of two 8-bit images, in [0, 1].

    Parameters: 5 scales with exponents :data:`MS_SSIM_WEIGHTS`, an 11-tap Gaussian
    window (σ = 1.5) applied separably without padding ('valid'), K1 = 0.01, K2 = 0.03,
    dynamic range 255, 2x2 average pooling between scales (odd sides padded as in
    :func:`_pool2`). The contrast-structure means of scales 1-4 and the SSIM mean of scale
    5 are clamped at 0 before the weighted product. These are the conventions of
    ``pytorch_msssim.ms_ssim`` (which CompressAI uses for evaluation).

    Colour: the MS-SSIM of each channel is computed separately and the result is their
    mean (for ``(H, W)`` input, the single channel's value). Images as in the module
    docstring (floats rounded and clipped to 0..255 first); both sides must be at least
    :data:`MS_SSIM_MIN_SIDE` = 161 pixels. Identical images give exactly 1.0.
    """
    ref, dis = _image_pair(reference, distorted)
    height, width = ref.shape[:2]
    if min(height, width) < MS_SSIM_MIN_SIDE:
        raise InputError(
            "reference",
            f"is {height}x{width}; MS-SSIM with 5 scales and an 11-tap window needs both "
            f"sides >= {MS_SSIM_MIN_SIDE} pixels",
        )
    # (C, H, W) channel-first views.
    x = ref.reshape(height, width, -1).transpose(2, 0, 1)
    y = dis.reshape(height, width, -1).transpose(2, 0, 1)
    window = _gaussian_window()
    levels = len(MS_SSIM_WEIGHTS)
    factors = []
    for level in range(levels):
        ssim_mean, cs_mean = _ssim_terms(x, y, window)
        if level < levels - 1:
            factors.append(np.maximum(cs_mean, 0.0))
            x, y = _pool2(x), _pool2(y)
        else:
            factors.append(np.maximum(ssim_mean, 0.0))
    weights = np.asarray(MS_SSIM_WEIGHTS)[:, None]
    per_channel = np.prod(np.stack(factors) ** weights, axis=0)
    return float(per_channel.mean())


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a dB scale: ``-10 * log10(1 - value)``; ``math.inf`` for 1.0.

    ``value`` must be a finite number in [0, 1].
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError("value", f"must be a number, got {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise InputError("value", f"must be an MS-SSIM value in [0, 1], got {value!r}")
    return math.inf if number == 1.0 else -10.0 * math.log10(1.0 - number)


def _count(value: Any, name: str, *, positive: bool) -> int:
    """An integer count (Python or NumPy integer, not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(name, f"must be an integer, got {value!r}")
    number = int(value)
    if number < 0 or (positive and number == 0):
        raise InputError(
            name, f"must be {'positive' if positive else 'non-negative'}, got {number}"
        )
    return number


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
    """Rate in bits per pixel: ``8 * num_bytes / (height * width)``.

    Pixels, not samples: an RGB pixel counts once. ``num_bytes`` >= 0, ``height`` and
    ``width`` > 0, all integers.
    """
    size = _count(num_bytes, "num_bytes", positive=False)
    rows = _count(height, "height", positive=True)
    cols = _count(width, "width", positive=True)
    return 8.0 * size / (rows * cols)
