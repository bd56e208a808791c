"""The learned image codec: mean-scale hyperprior with scalar or lattice latents, variable rate.

Encoding an image ``(H, W, 3)`` or ``(H, W)`` uint8:

1. pad to a multiple of 64 (edge replication), analysis ``y = g_a(x)·gain(t)`` — in
   full-width bands with halos for large images, keeping each band's centre, so the
   latent is the one the whole image would give (no seams by construction);
2. hyper-latent ``ẑ = round(h_a(y))``, coded with the model's integer tables (chunk
   ``HYPR``);
3. scale indexes from ``ẑ`` by the **integer** scale branch (exact on every machine),
   means from the float mean branch;
4. residuals ``q = round(y - μ)`` coded with the indexed Gaussian tables (chunk ``LATN``);
   with a **lattice model** (format version 2), the residual vectors are quantized to
   the model's lattice instead and their coefficients coded with the indexed Gaussians'
   cell masses (:mod:`rdlab.coding.lattice_latents`).

Decoding inverts 2–4 and runs the synthesis on ``ŷ = q + μ`` (in bands the same way
for large images), then crops. Greyscale images are coded as RGB with three equal channels
and decoded back to one channel (the rounded mean of the three); alpha and 16-bit images
are refused by the image reader.

Steps 2–4 and their inverses are the model's latent codec
(:class:`~rdlab.nn.latent_codecs.HyperpriorLatentCodec`: an entropy bottleneck for
``ẑ``, the integer scale branch, the float mean branch and a scalar or lattice
conditional for ``y``); this module adds the file format, the tiled transforms, rate
control, refinement and the decoder's size checks.

Which quantities must agree exactly between encoder and decoder: the hyper-latent tables
(integers in the model file), the scale indexes (integer network) and the symbols. The
means and the synthesis are float32: they only move reconstructed values, by float
rounding, never which table decodes a symbol. The synthesis runs in full-width bands
(see :meth:`HyperpriorImageCodec._synthesis`), which keeps the pixels identical across
thread counts and tile sizes (tested). Across CPUs whose convolution kernels differ, a
reconstructed value may differ in its last float bit, which can move a rare pixel by
one level; the decoded symbols never differ (a committed test vector pins them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._arrays import optional_limit
from .._memory import available_memory_bytes, human_bytes
from ..coding.stream import check_stream_room
from ..container import Chunk, RdlFile, decode_rdl, encode_rdl
from ..errors import CorruptStreamError, InputError, ModelError, SizeLimitError
from ..nn.realism import RealismHead, shared_noise
from .image_model_file import ImageCodecModel, load_image_model
from .realism_file import load_realism_head
from .registry import register_codec

__all__ = ["CONTEXT_VERSION", "LATTICE_VERSION", "NAME", "VERSION", "HyperpriorImageCodec"]

NAME = "hyperprior"
VERSION = "1"
"""Format version of files with scalar latents."""
LATTICE_VERSION = "2"
"""Format version of files with lattice latents (the same chunks; ``LATN`` holds lattice
coefficients)."""
CONTEXT_VERSION = "3"
"""Format version of files of a checkerboard context model: chunks ``HYPR``, ``LATN``
(the anchors) and ``LAT2`` (the other half, coded with the context's tables)."""
VERSIONS = (VERSION, LATTICE_VERSION, CONTEXT_VERSION)
_CHUNKS = ("HYPR", "LATN", "LAT2")
_CHUNK_NAMES = tuple(f"hyperprior chunk '{name}'" for name in _CHUNKS)
ALIGN = 64
DEFAULT_QUALITY = 4.0
ANALYSIS_HALO = 32  # pixels; the analysis reaches 2 + 4 + 8 + 16 = 30 px
SYNTHESIS_HALO = 2  # latent rows; the synthesis reaches 1 + 1/2 + 1/4 + 1/8 latents
REFINED_TRIES = 4
"""Most refinements a ``target_bpp`` search with ``refine`` runs."""
MAX_PIXELS = 1 << 30
"""Default of ``max_pixels``: the largest image (pixels) the decoder accepts."""
DECODE_BYTES_PER_PIXEL = 96
"""Decoder memory per (64-aligned) pixel, bytes, beyond the model and one synthesis band
(measured: about 77 between 1 and 4 Mpixel, scalar latents)."""
REALISM_BYTES_PER_PIXEL = 12
"""What the realism head adds per pixel (its output, float32 RGB, beside the plain one)."""
CONTEXT_ENCODE_BYTES_PER_PIXEL = 70
CONTEXT_DECODE_BYTES_PER_PIXEL = 75
"""What a checkerboard context model adds per pixel, bytes, encoding and decoding: its
context nets run on the whole latent (float means, the exact integer scale branch in
float64). Measured on 4000x3000 (2 threads): encode 2.28 GB against the default model's
1.61, decode 2.03 against 1.28 (56 and 62 bytes per pixel), plus about 20 %."""


def _check_image(x: Any) -> tuple[np.ndarray, str]:
    image = np.asarray(x)
    if image.dtype != np.uint8:
        raise InputError("image", f"must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2), "L"
    if image.ndim == 3 and image.shape[2] == 3:
        return image, "RGB"
    raise InputError("image", f"must be (H, W) or (H, W, 3), got shape {image.shape}")


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last layout with canonical strides: oneDNN's fast convolution kernels on CPU.

    A batch of one made by ``permute(2, 0, 1)[None]`` of an ``(H, W, C)`` array counts as
    channels-last for torch, but its batch stride is ``C``; oneDNN does not take it for
    its channels-last format and the analysis ran about 1.5x slower. Such views are copied.
    """
    if x.is_contiguous(memory_format=torch.channels_last) and x.stride(0) == x[0].numel():
        return x
    return torch.empty_like(x, memory_format=torch.channels_last).copy_(x)


def _format_version(model: ImageCodecModel) -> str:
    """The format version of the files ``model`` writes (by its latent coder)."""
    if model.net.config.context is not None:
        return CONTEXT_VERSION
    return VERSION if model.latent_lattice is None else LATTICE_VERSION


def _chunk_names(header: Any) -> tuple[str, ...]:
    """Names of the file's latent streams, for error messages."""
    return _CHUNK_NAMES if header.file.codec_version == CONTEXT_VERSION else _CHUNK_NAMES[:2]


def _tiles(size: int, tile: int) -> list[tuple[int, int]]:
    """``(start, stop)`` spans of at most ``tile`` covering ``range(size)``."""
    return [(s, min(s + tile, size)) for s in range(0, size, tile)]


class HyperpriorImageCodec:
    """``encode(image) -> bytes`` / ``decode(bytes) -> image`` with a learned model.

    Args:
        quality: rate in ``[1, K]`` (K trained levels, 6 for the default model; 1 is
            the lowest rate, fractional values interpolate). Default 4.
        lmbda: alternatively, the rate-distortion trade-off λ (MSE on [0, 1] × 255²).
        target_bpp: alternatively, a target size in bits per pixel: the rate parameter
            is searched (bisection) for the largest rate that stays within it.
        model: bundled model name or path of a model file.
        tile: memory knob (multiple of 64): analysis and synthesis run in full-width
            bands of about ``3·tile²`` pixels (changes neither the file nor the pixels).
        refine: encoder-side latent refinement, in optimizer steps (0: off, the fast
            default). The latents of this image are optimized for its own ``R + λ·D``
            (:mod:`rdlab.nn.latent_refinement`): smaller files at the same quality for
            about ``refine`` times the cost of a training step on the image (~1 s per
            step for 640×426 on 2 cores). The decoder and the format are unchanged.
            Needs a model file with its training weights (the bundled ones have them).
        progress: called as ``progress(stage, done, total)`` while refining.
        max_pixels: the largest image the decoder accepts (None: no limit but the
            memory this process may use); a file declaring more raises
            :class:`~rdlab.errors.SizeLimitError` before anything is decoded.
        realism: decoder only: ``"default"`` (the model's bundled head) or the path of a
            realism head file (:mod:`rdlab.nn.realism`). The same file then decodes to a
            sample with the original's texture statistics instead of the conditional-mean
            reconstruction (sharper, lower PSNR); the encoder and the format are unchanged.
        realism_seed: the shared noise of the realism head (an integer in ``[0, 2⁶⁴)``):
            one file and one seed always decode to the same pixels.

    Attributes:
        last_rate: what the last ``encode`` chose (see :meth:`_rate_report`):
            ``rate_parameter``, ``quality``, ``bits_per_pixel`` of the file and, with
            ``target_bpp``, the target and whether the model could reach it.
    """

    name = NAME
    version = VERSION
    description = "learned hyperprior codec (GDN transforms, integer scale branch)"

    def __init__(
        self,
        quality: float | None = None,
        lmbda: float | None = None,
        target_bpp: float | None = None,
        model: str = "default",
        tile: int = 512,
        refine: int = 0,
        progress: Callable[[str, int, int], None] | None = None,
        max_pixels: int | None = MAX_PIXELS,
        realism: str | None = None,
        realism_seed: int = 0,
    ) -> None:
        given = [v is not None for v in (quality, lmbda, target_bpp)]
        if sum(given) > 1:
            raise InputError("quality", "give at most one of quality, lmbda and target_bpp")
        if tile < ALIGN or tile % ALIGN:
            raise InputError("tile", f"must be a positive multiple of {ALIGN}, got {tile}")
        if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
            raise InputError("refine", f"must be a whole number of steps >= 0, got {refine!r}")
        self.model_name = model
        self.tile = tile
        self.refine = refine
        self.progress = progress
        self.quality = quality
        self.lmbda = lmbda
        self.target_bpp = target_bpp
        self._model: ImageCodecModel | None = None
        self.last_rate: dict[str, Any] = {}
        self.max_pixels = optional_limit(max_pixels, "max_pixels")
        if realism is not None and (not isinstance(realism, str) or not realism):
            raise InputError("realism", f"must be 'default' or a head file, got {realism!r}")
        if (
            isinstance(realism_seed, bool)
            or not isinstance(realism_seed, int)
            or not 0 <= realism_seed < 2**64
        ):
            raise InputError(
                "realism_seed", f"must be an integer in [0, 2^64), got {realism_seed!r}"
            )
        self.realism = realism
        self.realism_seed = realism_seed
        if target_bpp is not None and not (math.isfinite(target_bpp) and target_bpp > 0):
            raise InputError("target_bpp", f"must be a positive number, got {target_bpp}")
        if lmbda is not None and not (math.isfinite(lmbda) and lmbda > 0):
            raise InputError("lmbda", f"must be a positive number, got {lmbda}")

    # -- model and rate parameter ------------------------------------------------
    @property
    def model(self) -> ImageCodecModel:
        if self._model is None:
            self._model = load_image_model(self.model_name)
        return self._model

    def rate_parameter(self) -> float:
        """The rate parameter ``t`` in ``[0, K-1]`` of ``quality`` or ``lmbda``."""
        levels = self.model.levels
        if self.lmbda is not None:
            return self.model.net.rate_parameter_of_lambda(self.lmbda)
        quality = DEFAULT_QUALITY if self.quality is None else self.quality
        if not (math.isfinite(quality) and 1 <= quality <= levels):
            raise InputError("quality", f"must lie in [1, {levels}], got {quality}")
        return float(quality) - 1.0

    # -- transforms, tiled -----------------------------------------------------------
    def _analysis(self, x: torch.Tensor) -> torch.Tensor:
        """``g_a`` of a padded image (1, 3, H, W) in full-width bands; ``(1, M, H/16, W/16)``.

        Bands of ``16·band_rows`` pixel rows are analysed with a 32-pixel halo above and
        below (the analysis reaches 30 pixels), so every kept latent sees exactly what one
        pass over the image gives it; with full-width bands the file does not depend on
        ``tile`` or the thread count either (see :meth:`_synthesis`).
        """
        net = self.model.net
        _, _, h, w = x.shape
        rows = 16 * self.band_rows(w // 16)
        if h <= rows:
            return net.g_a(_channels_last(x))
        out = torch.empty(1, net.config.latent_channels, h // 16, w // 16)
        for top, bottom in _tiles(h, rows):
            t0, b0 = max(0, top - ANALYSIS_HALO), min(h, bottom + ANALYSIS_HALO)
            y = net.g_a(_channels_last(x[:, :, t0:b0]))
            out[:, :, top // 16 : bottom // 16] = y[:, :, (top - t0) // 16 : (bottom - t0) // 16]
        return out

    def band_rows(self, latent_width: int) -> int:
        """Latent rows per synthesis band: about ``3·tile²`` output pixels per band."""
        return max(4, (3 * self.tile * self.tile // 256) // max(1, latent_width))

    def _synthesis(
        self, y_hat: torch.Tensor, t: torch.Tensor, model: ImageCodecModel
    ) -> torch.Tensor:
        """``g_s`` of the quantized gained latent in full-width bands; ``(1, 3, 16h, 16w)``.

        Bands of :meth:`band_rows` latent rows are synthesized with a halo of 2 latent
        rows above and below (the synthesis reaches 1.875 latents), so a band's kept rows
        are what one pass over the whole latent gives. Bands span the full width: the
        convolution kernels (oneDNN, channels-last) give values that depend on the width
        of their input but not on its height or the thread count, which is what makes
        the pixels independent of ``tile`` and threads (tested).
        """
        net = model.net
        _, inv_gain = net.gains(t)
        y = _channels_last(y_hat * inv_gain)
        _, _, h, w = y.shape
        rows = self.band_rows(w)
        if h <= rows:
            return net.g_s(y)
        out = torch.empty(1, 3, 16 * h, 16 * w)
        for top, bottom in _tiles(h, rows):
            t0, b0 = max(0, top - SYNTHESIS_HALO), min(h, bottom + SYNTHESIS_HALO)
            x = net.g_s(y[:, :, t0:b0])
            out[:, :, 16 * top : 16 * bottom] = x[:, :, 16 * (top - t0) : 16 * (bottom - t0)]
        return out

    def _realize(self, x_hat: torch.Tensor, t: torch.Tensor, head: RealismHead) -> torch.Tensor:
        """The realism head on a padded reconstruction (1, 3, H, W) in full-width bands.

        Bands of about ``3·tile²`` pixels get a halo of :attr:`RealismHead.halo` rows; the
        noise of each row is a function of the seed and the row alone
        (:func:`~rdlab.nn.realism.shared_noise`), so the pixels depend neither on
        ``tile`` nor on the thread count.
        """
        _, _, h, w = x_hat.shape
        channels = head.config.noise_channels
        rows = max(16, 3 * self.tile * self.tile // w)
        out = torch.empty_like(x_hat)
        for top, bottom in _tiles(h, rows):
            t0, b0 = max(0, top - head.halo), min(h, bottom + head.halo)
            noise = shared_noise(self.realism_seed, channels, t0, b0 - t0, w)
            band = head(_channels_last(x_hat[:, :, t0:b0]), _channels_last(noise), t)
            out[:, :, top:bottom] = band[:, :, top - t0 : bottom - t0]
        return out

    # -- coding of a latent at one rate parameter ------------------------------------------
    def _code_latent(
        self, y: torch.Tensor, z: torch.Tensor
    ) -> tuple[tuple[Chunk, ...], tuple[int, ...]]:
        """The chunks (``HYPR``, ``LATN`` and, for a context model, ``LAT2``) and the
        hyper-latent shape for the gained latent ``y`` (1, M, h, w) and the continuous
        hyper-latent ``z`` (1, N, h/4, w/4)."""
        streams, shape = self.model.latent_codec.compress(y, z)
        chunks = tuple(Chunk(name, data) for name, data in zip(_CHUNKS, streams, strict=False))
        return chunks, shape[1:]

    def _latents_at(
        self, y0: torch.Tensor, x: torch.Tensor | None, t: float, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, z)`` to code at ``t``: the analysis' (``y0·gain``, ``h_a``), or refined."""
        y, z = self._latents_at_plain(y0, t)
        if not self.refine:
            return y, z
        from ..nn.latent_refinement import RefinementSettings, refine_latents, refinement_bands

        assert x is not None
        settings = RefinementSettings(steps=self.refine)
        total = settings.steps * refinement_bands(y.shape, settings)
        report = self.progress

        def step(done: int) -> None:
            if report is not None:
                report("refining latents", done, total)

        with torch.inference_mode(False), torch.enable_grad():
            return refine_latents(
                self.model.net, x.clone(), t, *size, settings, start=(y, z), progress=step
            )

    def encode(self, x: Any) -> bytes:
        """An image ``(H, W, 3)`` or ``(H, W)`` uint8 to the bytes of an ``.rdl`` file."""
        with torch.inference_mode():
            return self._encode(x)

    def _encode(self, x: Any) -> bytes:
        rgb, mode = _check_image(x)
        height, width = rgb.shape[:2]
        if height < 1 or width < 1:
            raise InputError("image", "is empty")
        model = self.model
        if self.refine and not model.has_training_weights:
            raise ModelError(
                f"model {model.name!r} has no training weights, which --refine needs "
                "(export it with rdlab train image)"
            )
        ph, pw = -height % ALIGN, -width % ALIGN
        padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
        xt = torch.from_numpy(padded).permute(2, 0, 1)[None].float().div_(255.0)
        y0 = self._analysis(xt)
        kept = xt if self.refine else None  # refinement measures the distortion
        del xt
        base = {"height": height, "width": width, "mode": mode, "model": model.name}

        def file_at(t: float, refined: bool = True) -> bytes:
            if refined:
                y, z = self._latents_at(y0, kept, t, (height, width))
            else:
                y, z = self._latents_at_plain(y0, t)
            chunks, z_shape = self._code_latent(y, z)
            metadata = {**base, "rate_parameter": t, "z_shape": list(z_shape)}
            version = _format_version(model)
            return encode_rdl(RdlFile(NAME, version, model.hash, metadata, chunks))

        if self.target_bpp is None:
            t = self.rate_parameter()
            data = file_at(t)
        else:
            budget = self.target_bpp * height * width / 8.0
            if not self.refine:
                t, data = self._search_rate(file_at, budget)
            else:
                t, data = self._search_refined(file_at, budget)
        self.last_rate = self._rate_report(t, 8.0 * len(data) / (height * width))
        return data

    def _rate_report(self, t: float, bpp: float) -> dict[str, Any]:
        """What the last ``encode`` chose: ``rate_parameter`` ``t``, ``quality`` (``t + 1``)
        and the file's ``bits_per_pixel``; with ``target_bpp``, also the target and
        ``reachable``: false when the model cannot meet it (``"above"``: even the highest
        rate stays more than 2 % under the target; ``"below"``: even the lowest rate is
        over it), with ``unreachable`` saying which."""
        report: dict[str, Any] = {"rate_parameter": t, "quality": t + 1.0, "bits_per_pixel": bpp}
        if self.target_bpp is None:
            return report
        report["target_bpp"] = self.target_bpp
        top = float(self.model.levels - 1)
        side = None
        if bpp > self.target_bpp:
            side = "below"
        elif t >= top and bpp < 0.98 * self.target_bpp:
            side = "above"
        report["reachable"] = side is None
        if side is not None:
            report["unreachable"] = side
        return report

    def _latents_at_plain(self, y0: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y0·gain(t), h_a(y0·gain(t)))``: the analysis' latents, never refined."""
        net = self.model.net
        gain, _ = net.gains(torch.tensor([t], dtype=torch.float32))
        y = y0 * gain
        return y, net.h_a(y)

    def _search_refined(self, file_at: Callable[..., bytes], budget: float) -> tuple[float, bytes]:
        """``target_bpp`` with refinement, in at most :data:`REFINED_TRIES` refinements.

        Refining mostly shrinks a file by a factor ``f`` (a few to 25 per cent), so: bisect
        the plain files for ``t0`` and refine there; then guess the next ``t`` by bisecting
        the plain files for ``budget / f`` (``f`` from the last refined file), or, once a
        refined file overshot, by interpolating ``log size`` linearly in ``t`` between the
        largest fit and the smallest overshoot. Stops within 2 % of the budget. The
        largest refined file within budget wins (the plain one if none fits). Returns
        ``(t, file)``.
        """

        def plain_at(t: float) -> bytes:
            return file_at(t, refined=False)

        t0, plain = self._search_rate(plain_at, budget)
        best = file_at(t0)
        if len(best) > budget:
            return t0, plain
        fit_t, fit_size = t0, len(best)
        over: tuple[float, int] | None = None
        plain_size = len(plain)
        for _ in range(REFINED_TRIES - 1):
            if fit_size >= 0.98 * budget or fit_t >= self.model.levels - 1:
                break
            if over is None:
                shrink = fit_size / max(1, plain_size)
                t, plain_guess = self._search_rate(plain_at, budget / shrink)
            else:
                over_t, over_size = over
                gap = math.log(over_size / fit_size)
                t = fit_t + (over_t - fit_t) * math.log(0.995 * budget / fit_size) / gap
            if t <= fit_t + 1e-3 or (over is not None and t >= over[0] - 1e-3):
                break
            data = file_at(t)
            if len(data) <= budget:
                best, fit_t, fit_size = data, t, len(data)
                if over is None:
                    plain_size = len(plain_guess)
            else:
                over = (t, len(data))
        return fit_t, best

    def _search_rate(self, file_at: Callable[[float], bytes], budget: float) -> tuple[float, bytes]:
        """Bisection on ``t`` for the largest rate whose whole file fits ``budget`` bytes
        (the lowest rate if none does); 9 steps: ``t`` to within (K-1)/512. Returns
        ``(t, file)``."""
        lo, hi = 0.0, float(self.model.levels - 1)
        top = file_at(hi)
        if len(top) <= budget:
            return hi, top
        best = file_at(lo)
        if len(best) > budget:
            return lo, best
        for _ in range(9):
            mid = 0.5 * (lo + hi)
            data = file_at(mid)
            if len(data) <= budget:
                lo, best = mid, data
            else:
                hi = mid
        return lo, best

    def decode(self, data: bytes) -> np.ndarray:
        """Bytes of a hyperprior ``.rdl`` file to the image (uint8, ``(H, W, 3)`` or ``(H, W)``)."""
        with torch.inference_mode():
            return self._decode(data)

    def _header(self, data: bytes) -> _Header:
        """The checked header of a file and the model it needs (hash verified)."""
        file = decode_rdl(data, codecs={NAME: VERSIONS})
        meta = file.metadata
        try:
            height, width = int(meta["height"]), int(meta["width"])
            mode = str(meta["mode"])
            t = float(meta["rate_parameter"])
            n, hz, wz = (int(v) for v in meta["z_shape"])
            model_name = str(meta["model"])
        except (KeyError, TypeError, ValueError):
            raise CorruptStreamError("hyperprior file: metadata is incomplete") from None
        if self.model_name != "default" or model_name == "default":
            model = self.model  # the model asked for; the hash check below decides
        else:
            try:
                model = load_image_model(model_name)
            except InputError:
                raise ModelError(
                    f"this file needs model {model_name!r}, which is not bundled; "
                    "give its file with --model"
                ) from None
        if file.model_hash != model.hash:
            raise ModelError(
                f"this file was made with other weights than model {model.name!r} "
                f"(hash {file.model_hash.hex()[:12]} vs {model.hash.hex()[:12]})"
            )
        if file.codec_version != _format_version(model):
            raise CorruptStreamError(
                f"hyperprior file: format version {file.codec_version} does not match "
                f"the latent coder of model {model.name!r}"
            )
        if (
            mode not in ("RGB", "L")
            or not (0 <= t <= model.levels - 1)
            or height < 1
            or width < 1
            or n != model.net.config.channels
            or hz != -(-height // ALIGN)
            or wz != -(-width // ALIGN)
        ):
            raise CorruptStreamError("hyperprior file: metadata out of range")
        self._check_size(file, model, height, width, n)
        return _Header(file, model, height, width, mode, t, (n, hz, wz))

    def _check_size(
        self, file: RdlFile, model: ImageCodecModel, height: int, width: int, channels: int
    ) -> None:
        """Refuse, before any allocation, an image size the file cannot hold or this
        decoder should not take on.

        The hyper-latent codes ``channels`` symbols per 64x64 block, each costing at
        least its table's :meth:`~rdlab.coding.tables.FrequencyTables.least_bits`
        (about 49 bits per block for the default model), so chunk ``HYPR`` bounds the
        blocks (:func:`~rdlab.coding.stream.check_stream_room`: ``LengthError``). Then
        ``max_pixels`` and the memory decoding needs (:data:`DECODE_BYTES_PER_PIXEL`)
        against what this process may use: :class:`~rdlab.errors.SizeLimitError`.
        """
        blocks = -(-height // ALIGN) * -(-width // ALIGN)
        per_block = float(model.z_tables.least_bits()[:channels].sum())
        check_stream_room(
            len(file.chunk("HYPR")),
            blocks * per_block,
            f"hyperprior file: {width}x{height} pixels ({blocks} hyper-latent positions)",
        )
        pixels = height * width
        if self.max_pixels is not None and pixels > self.max_pixels:
            raise SizeLimitError(
                f"hyperprior file: {width}x{height} is {pixels} pixels, more than this "
                f"decoder's limit of {self.max_pixels} (max_pixels)"
            )
        per_pixel = DECODE_BYTES_PER_PIXEL + (REALISM_BYTES_PER_PIXEL if self.realism else 0)
        if model.net.config.context is not None:
            per_pixel += CONTEXT_DECODE_BYTES_PER_PIXEL
        needed = per_pixel * blocks * ALIGN * ALIGN
        available = available_memory_bytes()
        if available is not None and needed > available:
            raise SizeLimitError(
                f"hyperprior file: decoding {width}x{height} pixels needs about "
                f"{human_bytes(needed)} of memory, more than the {human_bytes(available)} "
                "this process can use"
            )

    @staticmethod
    def _streams(header: _Header) -> tuple[list[bytes], tuple[int, ...]]:
        """The latent codec's streams (chunks ``HYPR``, ``LATN`` and, in format version
        3, ``LAT2``) and the hyper-latent shape."""
        file = header.file
        count = 3 if file.codec_version == CONTEXT_VERSION else 2
        return [file.chunk(name) for name in _CHUNKS[:count]], (1, *header.z_shape)

    def symbols(self, data: bytes) -> dict[str, np.ndarray]:
        """The integers a file decodes to (int64): ``z`` (N, H/64, W/64), the scale
        ``indexes`` and the ``residuals`` q (M, H/16, W/16) (for lattice latents, the
        lattice coefficients in the same layout) — what must agree exactly on every
        machine (the test vectors pin them)."""
        with torch.inference_mode():
            header = self._header(data)
            symbols = header.model.latent_codec.decode_symbols(
                *self._streams(header), what=_chunk_names(header)
            )
        return {key: value[0] for key, value in symbols.items()}

    def _decode(self, data: bytes) -> np.ndarray:
        header = self._header(data)
        model = header.model
        y_hat = model.latent_codec.decompress(*self._streams(header), what=_chunk_names(header))
        tt = torch.tensor([header.rate_parameter], dtype=torch.float32)
        x_hat = self._synthesis(y_hat, tt, model)
        if self.realism is not None:
            x_hat = self._realize(x_hat, tt, load_realism_head(self.realism, model))
        height, width = header.height, header.width
        pixels = torch.round(x_hat[0, :, :height, :width].clamp_(0.0, 1.0).mul_(255.0))
        rgb = pixels.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
        if header.mode == "L":
            return np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return rgb

    def peak_memory_bytes(self, height: int, width: int) -> int:
        """Estimated peak memory, in bytes, that encoding a ``height x width`` image adds
        to a process that has not loaded PyTorch and the model yet (the input array
        included; reading the file not).

        Measured peak RSS on CPU (192 latent channels, ``tile=512``, 1 thread; 512² to
        4096²): PyTorch and the model take about 350 MiB; the analysis runs in bands of
        about ``3·tile²`` pixels whose activations take about 370 bytes per band pixel;
        the rest is held for the whole image at once, about 48 bytes per pixel: the
        float32 copy of the padded image (12) and the latent-domain work on the whole
        latent (gain, ``h_a``, means, scale indexes and the entropy coder's float64 and
        int64 copies of 0.75 latent values per pixel). So only the analysis is bounded by
        the tiles; memory still grows linearly with the image (4096²: 1.0 GiB above the
        model). Refinement (``refine``) adds about 1.5 kB per pixel of its bands (about
        1 Mpixel each) and two float32 copies of the image. A checkerboard context model
        adds :data:`CONTEXT_ENCODE_BYTES_PER_PIXEL`. About 20 % margin is added.
        """
        h = -(-int(height) // ALIGN) * ALIGN
        w = -(-int(width) // ALIGN) * ALIGN
        runtime = 400 * 2**20
        band = min(h, 16 * self.band_rows(w // 16) + 2 * ANALYSIS_HALO) * w
        peak = runtime + 3 * int(height) * int(width) + 450 * band + 60 * h * w
        if self.model.net.config.context is not None:
            peak += CONTEXT_ENCODE_BYTES_PER_PIXEL * h * w
        if self.refine:
            from ..nn.latent_refinement import RefinementSettings

            band_pixels = RefinementSettings(steps=self.refine).band_pixels
            peak += 1900 * min(h * w, band_pixels * 5 // 4) + 24 * h * w
        return int(peak)


@dataclass(frozen=True)
class _Header:
    file: RdlFile
    model: ImageCodecModel
    height: int
    width: int
    mode: str
    rate_parameter: float
    z_shape: tuple[int, int, int]


register_codec(NAME, HyperpriorImageCodec, VERSIONS)
