"""Distortion metrics, below every model and codec layer (numpy and SciPy; the
differentiable MS-SSIM for training, which needs PyTorch, is
:mod:`rdlab.metrics.torch_msssim`).

- :mod:`rdlab.metrics.image`: ``psnr`` (8-bit, peak 255), ``psnr_y`` (BT.601 Y'),
  ``ms_ssim`` (5 scales, mean over RGB channels), ``ms_ssim_db``, ``bits_per_pixel``.
- :mod:`rdlab.metrics.signal`: ``snr_db`` and ``audio_psnr_db`` for audio, ``rmsd`` (Å)
  for C-alpha traces, ``video_psnr_db``, ``mse``, ``kabsch``.
- :mod:`rdlab.metrics.spectral`: ``log_spectral_distance_db`` and
  ``log_mel_distance_db`` for audio (dB; what SNR does not see).
"""

from __future__ import annotations

from .image import (
    MS_SSIM_MIN_SIDE,
    bits_per_pixel,
    ms_ssim,
    ms_ssim_db,
    psnr,
    psnr_integer,
    psnr_y,
)
from .signal import audio_psnr_db, kabsch, mse, rmsd, snr_db, video_psnr_db
from .spectral import log_mel_distance_db, log_spectral_distance_db

__all__ = [
    "MS_SSIM_MIN_SIDE",
    "audio_psnr_db",
    "bits_per_pixel",
    "kabsch",
    "log_mel_distance_db",
    "log_spectral_distance_db",
    "ms_ssim",
    "ms_ssim_db",
    "mse",
    "psnr",
    "psnr_integer",
    "psnr_y",
    "rmsd",
    "snr_db",
    "video_psnr_db",
]
