"""Evaluation: image quality metrics and Bjøntegaard-delta comparisons of R-D curves."""

from .bd import bd_psnr, bd_rate
from .metrics import bits_per_pixel, ms_ssim, ms_ssim_db, psnr, psnr_y

__all__ = ["bd_psnr", "bd_rate", "bits_per_pixel", "ms_ssim", "ms_ssim_db", "psnr", "psnr_y"]
