"""The overfitted latent-grid image codec (``overfit``): Cool-chic / C3-style grids coded
by quantization and an auto-regressive entropy model, all fitted to the one image.

``encode(image)`` fits a :class:`rdlab.overfit.model.LatentGridImage` (grids, ARM,
synthesis) to the image (:func:`rdlab.overfit.fit.fit_image`), rounds it
(:func:`rdlab.overfit.fit.quantize_fit`) and writes one compact ``.rdl`` file: metadata
``{"h", "w", "c"}`` and one range-coded chunk ``GRID`` (:mod:`rdlab.overfit.bitstream`).
No model file is needed to decode: the networks travel in the file.

Rate: ``bpp`` aims the fit at that many bits per pixel of the grids (``lmbda`` from a
guess, corrected once after the coarse stage by its rate: :func:`fit_image`; the
networks' weights and the header come on top, about 0.02 bpp on a 512x512 photo), or
``lmbda`` fixes the trade-off (MSE of ``[0, 1]`` pixels per bpp).

Decoding reads the stream (the integer ARM picks every table, so the grids decode the
same on every machine), then runs the float32 synthesis: the same pixels for any thread
count on one machine. ``steps`` sets the encoder's effort in full-size steps (time grows
linearly; 30 % of it goes to a half-size stage, :func:`rdlab.overfit.fit.stage_plan`):
the default 1,400 took 263 s for a 640x426 photo on 2 cores (about 240 s for 500x500).

``last_report`` after ``encode``: the stream's ``bits``/``bpp``, the decoded ``psnr``,
``grid_bits``, the weight exponents, ``lmbda`` (that of the full-size stage),
``lmbda_start`` and ``coarse_bpp`` (:func:`rdlab.overfit.fit.fit_image`),
``file_bits``, ``macs_per_pixel`` and the relative entropy coding estimate of the same
grids (``rec_kl_bpp``, ``rec_psnr``: :func:`rdlab.overfit.fit.rec_estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._arrays import optional_limit
from .._memory import available_memory_bytes, human_bytes
from ..container import Chunk, RdlFile, decode_rdl, encode_rdl
from ..errors import CorruptHeaderError, InputError, SizeLimitError
from ..overfit.bitstream import decode_stream, encode_stream
from ..overfit.fit import FitSettings, fit_image, quantize_fit, reconstruct
from .registry import register_codec

__all__ = ["NAME", "VERSION", "OverfitImageCodec"]

NAME = "overfit"
VERSION = "1"
VERSIONS = (VERSION,)
_TAG = "GRID"
MAX_PIXELS = 1 << 26
"""Default of ``max_pixels``: the largest image the decoder accepts."""
DECODE_BYTES_PER_PIXEL = 600
"""Decoder memory per pixel, bytes (float32 synthesis activations, grids, context):
measured 350 (207 MB above the interpreter for 768x768), plus margin."""
ENCODE_BYTES_PER_PIXEL = 4000
"""Encoder memory per pixel, bytes: the fit keeps every activation of a step for its
gradient (measured: 0.81 GB resident for a 640x426 photo, 3 kB per pixel, plus margin)."""


def _check_image(x: Any) -> np.ndarray:
    image = np.asarray(x)
    if image.dtype != np.uint8:
        raise InputError("image", f"must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3) or 0 in image.shape:
        raise InputError("image", f"must be (H, W) or (H, W, 3), got shape {image.shape}")
    return image


class OverfitImageCodec:
    """Codec options: ``bpp`` (aim of the grids' rate) or ``lmbda`` (fixed trade-off;
    neither: ``bpp=0.4``), ``steps`` (fitting steps, default 1,400: about 4 minutes for
    500x500 on 2 cores), ``seed``, ``progress`` (callable ``(stage, done, total)``, stage
    ``"fit"``), ``max_pixels`` (decoder limit).

    Raises:
        InputError: both or a non-positive rate option, a step count < 1.
    """

    name = NAME
    version = VERSION
    description = "overfitted latent grids (Cool-chic style), quantized, auto-regressive model"
    slow_encoder = True  # the CLI shows the fit's progress

    def __init__(
        self,
        *,
        bpp: float | None = None,
        lmbda: float | None = None,
        steps: int = FitSettings.steps,
        seed: int = 0,
        progress: Callable[[str, int, int], None] | None = None,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        if bpp is not None and lmbda is not None:
            raise InputError("rate", "give bpp or lmbda, not both")
        for key, value in (("bpp", bpp), ("lmbda", lmbda)):
            if value is not None and not (
                isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            ):
                raise InputError(key, f"must be a finite number > 0, got {value!r}")
        if lmbda is None and bpp is None:
            bpp = 0.4
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InputError("steps", f"must be an integer >= 1, got {steps!r}")
        self.bpp, self.lmbda = bpp, lmbda
        self.settings = FitSettings(steps=steps, seed=seed)
        self.progress = progress
        self.max_pixels = optional_limit(max_pixels, "max_pixels")
        self.last_report: dict[str, Any] = {}

    def encode(self, x: Any) -> bytes:
        image = _check_image(x)
        h, w, c = image.shape
        self._check_size(h, w, ENCODE_BYTES_PER_PIXEL, "encoding")
        target = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()
        progress = self.progress
        model, lmbda = fit_image(
            target,
            lmbda=self.lmbda,
            target_bpp=self.bpp,
            settings=self.settings,
            progress=None if progress is None else (lambda d, t: progress("fit", d, t)),
        )
        coded, report = quantize_fit(model, target, lmbda)
        file = RdlFile(
            NAME, VERSION, b"", {"h": h, "w": w, "c": c}, (Chunk(_TAG, encode_stream(coded)),)
        )
        data = encode_rdl(file, compact=True)
        self.last_report = {
            **report,
            **model.fit_report,
            "lmbda": lmbda,
            "file_bits": 8 * len(data),
            "macs_per_pixel": model.macs_per_pixel(),
        }
        return data

    def _check_size(
        self, h: int, w: int, per_pixel: int = DECODE_BYTES_PER_PIXEL, work: str = "decoding"
    ) -> None:
        if self.max_pixels is not None and h * w > self.max_pixels:
            raise SizeLimitError(
                f"{w}x{h} pixels is more than the overfit decoder's limit of {self.max_pixels}"
            )
        need = per_pixel * h * w
        have = available_memory_bytes()
        if have is not None and need > have:
            raise SizeLimitError(
                f"{work} {w}x{h} would need about {human_bytes(need)}, {human_bytes(have)} is free"
            )

    def decode(self, data: bytes) -> np.ndarray:
        """The image of an ``overfit`` file: ``(H, W, 3)`` or ``(H, W)`` uint8.

        Raises:
            FormatError: not an ``overfit`` file, bad metadata or a corrupt stream.
            SizeLimitError: more pixels than ``max_pixels`` or than memory allows.
        """
        file = decode_rdl(data, codecs={NAME: VERSIONS})
        meta = file.metadata
        try:
            h, w, c = (meta[k] for k in ("h", "w", "c"))
        except KeyError as missing:
            raise CorruptHeaderError(f"overfit metadata lacks {missing}") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (h, w, c)):
            raise CorruptHeaderError("overfit metadata: h, w, c must be integers")
        if h < 1 or w < 1 or c not in (1, 3):
            raise CorruptHeaderError(f"overfit metadata: bad size {w}x{h}x{c}")
        self._check_size(h, w)
        coded = decode_stream(file.chunk(_TAG), h, w, c)
        pixels = reconstruct(coded.model(h, w, c)).to(torch.uint8).permute(1, 2, 0).numpy()
        return pixels[:, :, 0].copy() if c == 1 else np.ascontiguousarray(pixels)


register_codec(NAME, lambda **options: OverfitImageCodec(**options), VERSIONS)
