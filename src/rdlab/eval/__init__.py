"""Evaluation: image quality metrics and Bjøntegaard-delta comparisons of R-D curves."""

from ..metrics import bits_per_pixel, ms_ssim, ms_ssim_db, psnr, psnr_y
from .bd import bd_psnr, bd_rate

__all__ = ["bd_psnr", "bd_rate", "bits_per_pixel", "ms_ssim", "ms_ssim_db", "psnr", "psnr_y"]
