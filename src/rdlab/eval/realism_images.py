"""Image realism mode, measured: the same files decoded plainly and with the realism head.

For each image and quality, the image is encoded once with the hyperprior codec; the
file is decoded twice, plainly (the conditional-mean reconstruction) and with the
realism head (:mod:`rdlab.nn.realism`, shared noise of ``seed``), and both are scored:

- distortion: PSNR (RGB, dB) and MS-SSIM (where both sides are at least 161 px);
- realism, with no pretrained network (:mod:`rdlab.metrics.realism`): the sliced W2²
  between the 8×8 luma patch sets of original and decoded image (0 for the original
  itself; lower is more realistic), and the detail ratio (Laplacian energy of decoded
  over original; 1 is the original's).

Bits are the file's (identical for both decodes: the realism mode is decoder-only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..codecs.hyperprior import HyperpriorImageCodec
from ..errors import InputError
from ..metrics import MS_SSIM_MIN_SIDE, bits_per_pixel, ms_ssim, psnr
from ..metrics.realism import detail_ratio, patch_sliced_w2

__all__ = ["run_realism_images"]

_MEASURES = ("psnr", "ms_ssim", "patch_sw2", "detail_ratio")


def _scores(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float | None]:
    small = min(reference.shape[:2]) < MS_SSIM_MIN_SIDE
    return {
        "psnr": psnr(reference, decoded),
        "ms_ssim": None if small else ms_ssim(reference, decoded),
        "patch_sw2": patch_sliced_w2(reference, decoded),
        "detail_ratio": detail_ratio(reference, decoded),
    }


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None]
    return float(np.mean(values)) if values else None


def run_realism_images(
    images: Sequence[tuple[str, np.ndarray]],
    qualities: Sequence[float] = (1.0, 3.0, 5.0),
    realism: str = "default",
    seed: int = 0,
    model: str = "default",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score plain and realism decodes of every image at every quality.

    Args:
        images: ``(name, uint8 (H, W, 3))`` pairs (never training photos).
        qualities: codec qualities in ``[1, K]``.
        realism: the head (``"default"`` or a file).
        seed: the realism head's shared noise.
        model: the image model.
        progress: called with the number of (image, quality) pairs done.

    Returns:
        ``{"qualities": [{quality, bpp, plain: {...}, realism: {...}}], "images": [...],
        "model", "realism", "seed"}``; the per-quality entries are means
        over images.

    Raises:
        InputError: no images, or a quality out of range.
    """
    if not images:
        raise InputError("images", "give at least one image")
    rows: list[dict[str, Any]] = []
    done = 0
    for name, image in images:
        for quality in qualities:
            encoder = HyperpriorImageCodec(quality=quality, model=model)
            data = encoder.encode(image)
            plain = encoder.decode(data)
            real = HyperpriorImageCodec(model=model, realism=realism, realism_seed=seed)
            sample = real.decode(data)
            rows.append(
                {
                    "image": name,
                    "quality": float(quality),
                    "bpp": bits_per_pixel(len(data), *image.shape[:2]),
                    "plain": _scores(image, plain),
                    "realism": _scores(image, sample),
                }
            )
            done += 1
            if progress is not None:
                progress(done)
    summary = []
    for quality in qualities:
        group = [r for r in rows if r["quality"] == float(quality)]
        entry: dict[str, Any] = {"quality": float(quality), "bpp": _mean(group, "bpp")}
        for mode in ("plain", "realism"):
            entry[mode] = {k: _mean([r[mode] for r in group], k) for k in _MEASURES}
        summary.append(entry)
    return {
        "model": model,
        "realism": realism,
        "seed": seed,
        "qualities": summary,
        "images": rows,
    }
