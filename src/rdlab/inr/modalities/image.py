"""Images for the INR codec: uint8 ``(H, W, 3)`` (or greyscale ``(H, W)``), normalized to
``v / 255 - 1/2``; rate in bits per pixel of the whole file; PSNR at peak 255.

Greyscale images are coded as three equal channels and decoded as their rounded mean.
"""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Any

import numpy as np

from ..._files import check_output
from ...data.images import image_format_for, read_image, write_image
from ...metrics import psnr
from .base import Architecture, Modality, Prepared, invalid_metadata

__all__ = ["MODALITY", "ImageModality", "check_grey", "pixels_from_values", "values_from_pixels"]


def values_from_pixels(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as the networks' values: float32 ``v / 255 - 1/2``."""
    return pixels.astype(np.float32) / 255.0 - 0.5


def pixels_from_values(values: np.ndarray, grey: bool) -> np.ndarray:
    """Decoded values back to uint8 pixels (the rounded channel mean where ``grey``, the
    channel axis dropped)."""
    pixels = np.clip(np.rint((values + 0.5) * 255.0), 0, 255).astype(np.uint8)
    if grey:
        pixels = np.rint(pixels.astype(np.float64).mean(axis=-1)).astype(np.uint8)
    return pixels


def check_grey(meta: dict[str, Any]) -> None:
    """Refuse a ``grey`` field other than ``true`` (``FormatError``)."""
    if "grey" in meta and meta["grey"] is not True:
        raise invalid_metadata("grey")


class ImageModality(Modality):
    """Images (any file no other modality claims: PIL reads it or refuses it)."""

    name = "image"
    suffixes = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
    output_suffix = ".png"
    writer = staticmethod(write_image)
    rate_keyword = "bpp"
    rate_unit = "bpp"
    #: the bundled priors learned at 0.5-0.67 times the coded rate coded best: on 256x256
    #: crops of two photos at 0.2, 0.4 and 0.8 bpp, priors learned near the coded rate lost
    #: 0.3-1.0 dB (prior learning's rate is still falling when it stops); the table is in
    #: ``models/inr.md``.
    prior_rate_fraction = 0.6
    #: The step decays (cosine) to a tenth over the fitting: with the earlier image prior
    #: (``inr-image-1``) on a 256x256 crop of mvtb_P1070492 (1,500 steps) that gave 26.70 dB
    #: at 0.4 bpp against 25.65 dB for a constant step (the other modalities keep the
    #: constant step: the decay cost 0.06-0.08 Å at 12 bits/atom on two protein chains and
    #: 0.8 dB on video, mire2, 8 frames of 64x64, 0.4 bpp: 28.12 against 28.93 dB, and
    #: changed nothing on speech, 6.51 dB at 6 kbit/s against 6.5).
    #: 3,000 fitting steps: with ``inr-image-4`` at 0.4 bpp they gave 27.25 / 23.11 dB on
    #: the mvtb / motorcycle crops against 27.13 / 22.97 dB at 1,500 (encoding about 250 s
    #: instead of 150 s on one thread, within the 10 minutes asked for a 256x256 image);
    #: 150 fine-tuning steps per group instead of 60 gave about half that gain (27.22 /
    #: 23.05 dB) for two thirds of the extra steps.
    #: Each block's greedy candidate (largest log q/p of the 2^k, no noise:
    #: ``rdlab.rec.blockwise``, ``selection="greedy"``) instead of a sample of the
    #: posterior: with 3,000 steps, motorcycle 0.4 / 0.8 bpp 23.33 / 26.24 dB against
    #: 23.18 / 26.08, graf1 0.2 bpp 22.72 against 22.56 (256x256 centre crops). A KL of 15
    #: or 14 bits per block with it gave 23.37 / 23.37 on motorcycle but 22.69 on graf1, so
    #: the target stays 16; "nearest" (largest log q) gave 22.17 on motorcycle 0.4.
    # max_coords_per_step: a 256x256 image (64 patches of 1,024 pixels) fits every pixel
    # each step; a 500x500 one (256 patches) half of each patch's: astronaut at 0.4 bpp,
    # 2 threads, encoded in 239 s instead of 411 s, 28.46 dB instead of 28.52
    fit = MappingProxyType({"lr_final_ratio": 0.1, "steps": 3000, "selection": "greedy",
                            "max_coords_per_step": 131072})  # fmt: skip
    #: w0 = 5 rather than SIREN's 30 for every modality: with Fourier features the first
    #: layer already carries the frequencies (chosen for 2-core CPUs)
    architecture: Architecture = ((32, 32), {"in_dim": 2, "out_dim": 3, "hidden": 24,
        "layers": 3, "frequencies": 8, "max_frequency": 16.0, "w0": 5.0})  # fmt: skip

    def detect(self, path: str | os.PathLike[str]) -> bool:
        """Every path: images are the fallback of :func:`modality_for_path`."""
        return True

    def accepts(self, signal: Any) -> bool:
        return isinstance(signal, np.ndarray) and signal.dtype == np.uint8 and signal.ndim in (2, 3)

    def read(self, path: str | os.PathLike[str], **options: Any) -> np.ndarray:
        return read_image(path)

    def check_output(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        protect: tuple[str, ...] = (),
    ) -> None:
        """Images are written in the lossless format their suffix names
        (:func:`rdlab.data.images.image_format_for`)."""
        image_format_for(path)
        check_output(path, overwrite=overwrite, protect=protect)

    def items(self, signal: Any) -> float:
        """Pixels."""
        return float(signal.shape[0] * signal.shape[1])

    def prepare(self, signal: Any) -> Prepared:
        img = np.asarray(signal)
        grey = img.ndim == 2
        if grey:
            img = np.repeat(img[..., None], 3, axis=2)
        meta: dict[str, Any] = {"shape": list(img.shape[:2])}
        if grey:
            meta["grey"] = True
        return Prepared(values_from_pixels(img), meta, items=img.shape[0] * img.shape[1])

    def spatial_shape(self, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        return (int(meta["shape"][0]), int(meta["shape"][1])), 3

    def check_meta(self, meta: dict[str, Any]) -> None:
        check_grey(meta)

    def restore(
        self,
        values: np.ndarray,
        meta: dict[str, Any],
        chunks: dict[str, bytes],
        *,
        codec_version: str | None = None,
    ) -> np.ndarray:
        return pixels_from_values(values, bool(meta.get("grey")))

    def distortion(self, reference: Any, decoded: Any) -> dict[str, float]:
        """``psnr_db``: RGB PSNR at peak 255."""
        return {"psnr_db": float(psnr(reference, decoded))}


MODALITY = ImageModality()
