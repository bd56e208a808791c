"""Fitting a latent-grid image to one image: the encoder's work.

:func:`fit_image` minimizes ``MSE + lmbda * bpp`` (MSE of ``[0, 1]`` pixels, bits per
pixel under the float ARM) with Adam and a cosine-decayed step: first with uniform noise
standing for the rounding of the grids, then (the last ``round_fraction`` of the steps)
with the grids rounded and a straight-through gradient. With ``target_bpp`` the
trade-off ``lmbda`` follows the rate: after the first tenth of the steps, every step
moves ``log lmbda`` by ``rate_gain * clip(log(bpp / target), -1, 1)``, so one fit lands
near the asked rate.

:func:`quantize_fit` then rounds the grids and picks the weight exponents: the ARM's the
one that codes weights plus grids in the fewest bits (under the integer ARM, exactly),
the synthesis's the one with the least ``MSE + lmbda * bpp``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from .arm import IntegerARM
from .bitstream import CodedGrids, encode_stream, grid_bits, net_bits, network_arrays
from .model import LatentGridImage

__all__ = ["FitSettings", "fit_image", "quantize_fit", "reconstruct"]

ARM_EXPONENTS = tuple(range(5, 11))
SYNTHESIS_EXPONENTS = tuple(range(4, 11))


@dataclass(frozen=True)
class FitSettings:
    """How the encoder fits.

    Attributes:
        steps: optimizer steps (each evaluates the whole image).
        lr: Adam's initial step for the networks, decayed by a cosine to
            ``lr * final_lr_ratio`` (the grids' too).
        latent_lr: Adam's initial step for the grids (quantization steps).
        round_fraction: the share of steps, at the end, fitted with rounded grids.
        levels: grids (None: :meth:`LatentGridImage.default_levels`).
        hidden: synthesis hidden widths.
        arm_hidden: ARM hidden width.
        rate_gain: step of ``log lmbda`` per unit of relative rate error (``target_bpp``).
        seed: seeds the noise and the network initialization.
    """

    steps: int = 1500
    lr: float = 0.01
    latent_lr: float = 0.05
    final_lr_ratio: float = 0.01
    round_fraction: float = 0.2
    levels: int | None = None
    hidden: tuple[int, ...] = (32,)
    arm_hidden: int = 16
    rate_gain: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise InputError("steps", f"must be >= 1, got {self.steps}")
        if not (self.lr > 0 and 0 < self.final_lr_ratio <= 1 and 0 <= self.round_fraction <= 1):
            raise InputError("lr", "need lr > 0, 0 < final_lr_ratio <= 1, 0 <= round_fraction <= 1")


def _check_image(image: torch.Tensor) -> None:
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise InputError("image", f"must be (C, H, W) with C 1 or 3, got {tuple(image.shape)}")


def fit_image(
    image: torch.Tensor,
    *,
    lmbda: float | None = None,
    target_bpp: float | None = None,
    settings: FitSettings = FitSettings(),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[LatentGridImage, float]:
    """Fit a :class:`LatentGridImage` to ``image`` (float ``(C, H, W)`` in ``[0, 1]``).

    Args:
        lmbda: the rate-distortion trade-off (MSE per bpp); with ``target_bpp``, where
            the controller starts (None: a guess from the target).
        target_bpp: aim at this many bits per pixel (of the grids; the weights and the
            header come on top).
        settings: :class:`FitSettings`.
        progress: called with ``(done, total)`` steps.

    Returns:
        ``(model, lmbda)``: the fitted model and the trade-off it ended on.

    Raises:
        InputError: neither or a non-positive ``lmbda`` / ``target_bpp``, a bad image.
    """
    _check_image(image)
    if lmbda is None and target_bpp is None:
        raise InputError("lmbda", "give lmbda or target_bpp")
    for name, value in (("lmbda", lmbda), ("target_bpp", target_bpp)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(name, f"must be a finite number > 0, got {value}")
    if lmbda is None:
        lmbda = 2e-4 / float(target_bpp) ** 2  # a start; the controller corrects it
    torch.manual_seed(settings.seed)
    c, h, w = image.shape
    levels = settings.levels or LatentGridImage.default_levels(h, w)
    model = LatentGridImage(h, w, c, levels, settings.hidden, settings.arm_hidden)
    networks = [p for name, p in model.named_parameters() if not name.startswith("latents.")]
    optimizer = torch.optim.Adam(
        [
            {"params": list(model.latents), "lr": settings.latent_lr, "base": settings.latent_lr},
            {"params": networks, "lr": settings.lr, "base": settings.lr},
        ]
    )
    rounded_from = round(settings.steps * (1 - settings.round_fraction))
    log_lmbda = math.log(lmbda)
    warmup = settings.steps // 10  # the rate of a fresh model says nothing yet
    for step in range(settings.steps):
        decay = 0.5 * (1 + math.cos(math.pi * step / settings.steps))
        ratio = settings.final_lr_ratio
        for group in optimizer.param_groups:
            group["lr"] = group["base"] * (ratio + (1 - ratio) * decay)
        x_hat, bits = model("round" if step >= rounded_from else "noise")
        bpp = bits / model.pixels
        loss = torch.mean((x_hat - image) ** 2) + math.exp(log_lmbda) * bpp
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if target_bpp is not None and step >= warmup:
            error = math.log(max(float(bpp.detach()), 1e-6) / target_bpp)
            log_lmbda += settings.rate_gain * max(-1.0, min(1.0, error))
        if progress is not None:
            progress(step + 1, settings.steps)
    return model, math.exp(log_lmbda)


def reconstruct(model: LatentGridImage) -> torch.Tensor:
    """The decoded image of a model whose grids and weights are already the coded ones:
    ``(C, H, W)`` uint8 values as float in ``[0, 255]``."""
    with torch.no_grad():
        x_hat = model.synthesis(model.upsample(list(model.latents)))
        return torch.round(x_hat.clamp(0.0, 1.0) * 255.0)


def quantize_fit(
    model: LatentGridImage, image: torch.Tensor, lmbda: float
) -> tuple[CodedGrids, dict[str, float]]:
    """Round a fitted model to its coded form and choose the weight exponents.

    Returns:
        ``(coded, report)``; the report has the stream's ``bits`` and ``bpp``, the
        ``psnr`` of the decoded image (dB, 8-bit), ``grid_bits`` and the exponents.
    """
    _check_image(image)
    grids = tuple(np.rint(g.detach().double().numpy()).astype(np.int64) for g in model.latents)
    best_arm, best_arm_bits = None, math.inf
    for exponent in ARM_EXPONENTS:
        arm = IntegerARM.from_float(model.arm, exponent)
        bits = net_bits((*arm.weights, *arm.biases)) + sum(grid_bits(arm, g) for g in grids)
        if bits < best_arm_bits:
            best_arm, best_arm_bits = arm, bits
    assert best_arm is not None
    target = torch.round(image * 255.0)
    c, h, w = image.shape
    best: tuple[float, CodedGrids, float, float] | None = None
    for exponent in SYNTHESIS_EXPONENTS:
        coded = CodedGrids(
            model.levels,
            model.hidden,
            best_arm,
            network_arrays(model.synthesis, exponent),
            exponent,
            grids,
        )
        mse = float(torch.mean((reconstruct(coded.model(h, w, c)) - target) ** 2)) / 255.0**2
        bits = net_bits(coded.synthesis)
        cost = mse + lmbda * (bits + best_arm_bits) / (h * w)
        if best is None or cost < best[0]:
            best = (cost, coded, mse, bits)
    assert best is not None
    _, coded, mse, _ = best
    stream_bits = 8.0 * len(encode_stream(coded))
    report = {
        "bits": stream_bits,
        "bpp": stream_bits / (h * w),
        "psnr": 10 * math.log10(1.0 / max(mse, 1e-12)),
        "grid_bits": float(sum(grid_bits(coded.arm, g) for g in grids)),
        "arm_exponent": float(coded.arm.exponent),
        "synthesis_exponent": float(coded.synthesis_exponent),
    }
    return coded, report
