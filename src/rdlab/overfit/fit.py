"""Fitting a latent-grid image to one image: the encoder's work.

:func:`fit_image` minimizes ``MSE + lmbda * bpp`` (MSE of ``[0, 1]`` pixels, bits per
pixel under the float ARM) with Adam, coarse to fine (:func:`stage_plan`): first on the
image downsampled twice with the grids from the second on (a quarter of the work per
step), then at full size with the finest grid added. Each stage decays its step with a
cosine while uniform noise stands for the rounding of the grids; the last stage then
spends its last ``round_fraction`` of steps at the final low step with the synthesis
fed the rounded grids (straight-through gradient) and the rate still measured on noisy
ones. Rating the rounded grids too made the rate climb (on a 256x256 crop at ``lmbda``
0.004, from 0.48 to 0.87 bpp over the last 300 of 1,500 steps, the loss rising with
it). The trade-off ``lmbda`` stays fixed within a stage: the rate of a fit is far from
its final value until the step has decayed (at ``lmbda`` 0.005 on a 451x300 photo the
rounded grids' rate rose to 0.50 bpp mid-fit and ended at 0.15), and a controller that
followed it drove ``lmbda`` up 25 times and cost 3 dB (25.8 dB at 0.17 bpp where the fixed
``lmbda`` gave 29.0 dB at 0.20).

With ``target_bpp``, ``lmbda`` (default :func:`lmbda_guess`) starts the coarse stage; the
rounded rate its grids end on (per full-size pixel) predicts the final one
(:data:`FINE_SHARE` times it), and the full-size stage runs at ``lmbda`` corrected by the
power law :data:`RATE_EXPONENT` (``bpp ~ lmbda ** -RATE_EXPONENT``, measured on photos).

Coarse to fine, on a 256x256 crop at ``lmbda`` 0.004 and the same budget of 600
full-size steps (about 35 s), took the loss ``MSE + lmbda * bpp`` from 4.42e-3 to
3.87e-3: 26.4 dB at 0.39 bpp instead of 0.54 bpp; two coarse stages did worse (4.20e-3).

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
from torch.nn import functional

from ..errors import InputError, ModelError
from .arm import IntegerARM
from .bitstream import CodedGrids, encode_stream, grid_bits, net_bits, network_arrays
from .model import LatentGridImage

__all__ = [
    "FitSettings",
    "fit_image",
    "lmbda_guess",
    "quantize_fit",
    "rec_estimate",
    "reconstruct",
    "rounded_bpp",
    "stage_plan",
]

FINAL_MODE = "mixed"
RATE_EXPONENT = 0.75
"""Grid bpp falls as ``lmbda ** -RATE_EXPONENT`` (0.73-1.0 between ``lmbda`` 0.005, 0.02
and 0.08 on skimage_chelsea; the lower end, as a correction should undershoot)."""
FINE_SHARE = 1.7
"""Final grid rate over the rate the coarse stage's grids end on (both per full-size
pixel, at one ``lmbda``): 1.0-1.6 on skimage_chelsea, 1.4 on opencv_smarties, 2.0-2.8 on
mvtb_P1070492 (more at higher rates and on detailed photos, where the finest grid takes
a larger share); 1.7 is their geometric mean."""
_CORRECTION = 16.0  # the coarse stage corrects lmbda by at most this factor either way
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
        round_fraction: the share of the last stage's steps, at its end, whose synthesis
            sees rounded grids.
        levels: grids (None: :meth:`LatentGridImage.default_levels`).
        hidden: synthesis hidden widths.
        arm_hidden: ARM hidden width.
        coarse_stages: stages before the full-size one, each on the image downsampled
            twice more (:func:`stage_plan`); 0: fit the full size only.
        coarse_fraction: the share of the budget (in full-size steps) the coarse stages
            take.
        seed: seeds the noise and the network initialization.

    The defaults ``lr`` 0.02 and ``coarse_fraction`` 0.3 (before: 0.01 and 0.5) took the
    loss at 1,000 steps from 2.33e-3 to 2.06e-3 on skimage_chelsea (``lmbda`` 0.005:
    28.99 dB at 0.214 bpp to 28.82 dB at 0.150) and from 2.84e-3 to 2.52e-3 on a 320x320
    crop of mvtb_P1070492 (``lmbda`` 0.003: 27.65 dB at 0.374 bpp to 28.27 at 0.343);
    either change alone gave about half of that on the crop, ``lr`` 0.03 and 0.04 and a
    ``latent_lr`` of 0.02, 0.07 or 0.1 did worse (one fit each: repeats differ by about 2 %).
    On the whole mvtb_P1070492 (640x426) the new defaults gave 28.01 dB at 0.306 bpp in
    1,000 steps (189 s on 2 cores), the old 28.10 at 0.321; 1,400 steps (the default,
    263 s) gave 28.54 dB at 0.317 bpp (loss 2.35e-3 against 2.50e-3).
    """

    steps: int = 1400
    lr: float = 0.02
    latent_lr: float = 0.05
    final_lr_ratio: float = 0.01
    round_fraction: float = 0.2
    levels: int | None = None
    hidden: tuple[int, ...] = (32,)
    arm_hidden: int = 16
    coarse_stages: int = 1
    coarse_fraction: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise InputError("steps", f"must be >= 1, got {self.steps}")
        if not (self.lr > 0 and 0 < self.final_lr_ratio <= 1 and 0 <= self.round_fraction <= 1):
            raise InputError("lr", "need lr > 0, 0 < final_lr_ratio <= 1, 0 <= round_fraction <= 1")
        if not (0 <= self.coarse_stages <= 4 and 0 <= self.coarse_fraction < 1):
            raise InputError("coarse_stages", "need 0..4 coarse stages and a fraction in [0, 1)")


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
        lmbda: the rate-distortion trade-off (MSE per bpp), fixed; with ``target_bpp``,
            that of the coarse stage (None: :func:`lmbda_guess`), corrected once after
            it by the coarse grids' rate.
        target_bpp: aim at about this many bits per pixel of the grids (the weights and
            the header come on top); 0.5-2.5 times it (median 1.4) over 36 points on
            12 photos.
        settings: :class:`FitSettings`.
        progress: called with ``(done, total)`` steps.

    Returns:
        ``(model, lmbda)``: the fitted model and the trade-off of its full-size stage;
        the model's ``fit_report`` holds ``lmbda_start``, ``coarse_bpp`` (with
        ``target_bpp``: the coarse grids' rounded rate per full-size pixel) and
        :func:`rec_estimate` of the model as the noisy phase left it (what relative
        entropy coding of these grids would give).

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
        lmbda = lmbda_guess(float(target_bpp))
    torch.manual_seed(settings.seed)
    c, h, w = image.shape
    levels = settings.levels or LatentGridImage.default_levels(h, w)
    model = LatentGridImage(h, w, c, levels, settings.hidden, settings.arm_hidden)
    plan = stage_plan(settings, levels)
    total = sum(steps for _, steps in plan)
    done = 0
    report: dict[str, float] = {"lmbda_start": lmbda}
    for shrink, steps in plan:
        last = shrink == 0
        stage = model if last else _coarse_model(model, shrink)
        target = image if last else _downsampled(image, shrink)

        def progress_of_stage(step: int, offset: int = done) -> None:
            if progress is not None:
                progress(offset + step, total)

        report.update(_fit_stage(stage, target, steps, settings, lmbda, last, progress_of_stage))
        if not last:
            _copy_back(stage, model, shrink)
            if target_bpp is not None and shrink == 1:  # the stage before the full size
                coarse_bpp = rounded_bpp(stage) * stage.pixels / model.pixels
                factor = (FINE_SHARE * max(coarse_bpp, 1e-6) / target_bpp) ** (1 / RATE_EXPONENT)
                lmbda *= min(_CORRECTION, max(1 / _CORRECTION, factor))
                report["coarse_bpp"] = coarse_bpp
        done += steps
    model.fit_report = report
    return model, lmbda


def lmbda_guess(target_bpp: float) -> float:
    """A trade-off ``lmbda`` (MSE of ``[0, 1]`` pixels per bpp) that gives about
    ``target_bpp`` bits per pixel of grids on a photo: ``4e-4 * target_bpp ** -1.25``,
    fitted to four fits at 1,000 steps (skimage_chelsea at ``lmbda`` 0.005, 0.02, 0.08:
    0.146, 0.053, 0.013 bpp; opencv_smarties at 0.005: 0.086 bpp); the constant varies
    about twofold between photos.

    Raises:
        InputError: a ``target_bpp`` that is not a finite number > 0.
    """
    if not (math.isfinite(target_bpp) and target_bpp > 0):
        raise InputError("target_bpp", f"must be a finite number > 0, got {target_bpp}")
    return 4e-4 * target_bpp**-1.25


def stage_plan(settings: FitSettings, levels: int) -> list[tuple[int, int]]:
    """``(shrink, steps)`` of each stage, coarsest first: stage ``shrink`` fits the image
    downsampled ``2**shrink`` times with grids ``shrink ..`` (a step there costs about
    ``4**-shrink`` of a full one). ``settings.coarse_fraction`` of the budget (in
    full-size steps) goes to the coarse stages, split evenly."""
    coarse = min(settings.coarse_stages, levels - 1)
    plan = []
    for shrink in range(coarse, 0, -1):
        share = settings.coarse_fraction / coarse
        plan.append((shrink, max(1, round(settings.steps * share * 4**shrink))))
    full = settings.steps if not coarse else round(settings.steps * (1 - settings.coarse_fraction))
    plan.append((0, max(1, full)))
    return plan


def _downsampled(image: torch.Tensor, shrink: int) -> torch.Tensor:
    factor = 1 << shrink
    return functional.avg_pool2d(image[None], factor, ceil_mode=True)[0]


def _coarse_model(model: LatentGridImage, shrink: int) -> LatentGridImage:
    """A model of the image ``2**shrink`` times smaller with ``model``'s grids from
    ``shrink`` on, its ARM (shared) and a copy of its synthesis without the finer
    grids' inputs."""
    factor = 1 << shrink
    coarse = LatentGridImage(
        -(-model.height // factor),
        -(-model.width // factor),
        model.channels,
        model.levels - shrink,
        model.hidden,
        model.arm.hidden,
    )
    coarse.arm = model.arm
    first = coarse.synthesis.linear[0].weight
    with torch.no_grad():
        for mine, theirs in zip(coarse.latents, list(model.latents)[shrink:], strict=True):
            mine.copy_(theirs)
        pairs = zip(coarse.synthesis.parameters(), model.synthesis.parameters(), strict=True)
        for mine, theirs in pairs:
            mine.copy_(theirs[:, shrink:] if mine is first else theirs)
    return coarse


def _copy_back(coarse: LatentGridImage, model: LatentGridImage, shrink: int) -> None:
    """Carry a coarse stage's grids and synthesis into the full model; the finer grids'
    inputs start at zero weight (their grids are zero), so the full model starts where
    the coarse one ended, upsampled."""
    first = model.synthesis.linear[0].weight
    with torch.no_grad():
        for mine, theirs in zip(list(model.latents)[shrink:], coarse.latents, strict=True):
            mine.copy_(theirs)
        pairs = zip(model.synthesis.parameters(), coarse.synthesis.parameters(), strict=True)
        for mine, theirs in pairs:
            if mine is first:
                mine[:, :shrink] = 0.0
                mine[:, shrink:] = theirs
            else:
                mine.copy_(theirs)


def _fit_stage(
    model: LatentGridImage,
    image: torch.Tensor,
    steps: int,
    settings: FitSettings,
    lmbda: float,
    last: bool,
    progress: Callable[[int], None],
) -> dict[str, float]:
    """One stage of Adam steps on ``MSE + lmbda * bpp``. Coarse stages fit with noise
    only and a cosine over all their steps; the ``last`` returns :func:`rec_estimate` of
    the model where its noisy phase ends (an empty dict otherwise)."""
    networks = [p for name, p in model.named_parameters() if not name.startswith("latents.")]
    optimizer = torch.optim.Adam(
        [
            {"params": list(model.latents), "lr": settings.latent_lr, "base": settings.latent_lr},
            {"params": networks, "lr": settings.lr, "base": settings.lr},
        ]
    )
    rounded_from = round(steps * (1 - settings.round_fraction)) if last else steps
    ratio = settings.final_lr_ratio
    estimate: dict[str, float] = {}
    for step in range(steps):
        if last and step == rounded_from:
            estimate = rec_estimate(model, image)
        # cosine decay over the noisy phase, then the final low step while the grids are
        # rounded: a larger one moved grid values back and forth across rounding
        # boundaries, each crossing a jump of rate
        decay = 0.5 * (1 + math.cos(math.pi * min(step / max(rounded_from, 1), 1.0)))
        for group in optimizer.param_groups:
            group["lr"] = group["base"] * (ratio + (1 - ratio) * decay)
        x_hat, bits = model(FINAL_MODE if step >= rounded_from else "noise")
        bpp = bits / model.pixels
        loss = torch.mean((x_hat - image) ** 2) + lmbda * bpp
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress(step + 1)
    if last and not estimate:  # no rounded phase
        estimate = rec_estimate(model, image)
    return estimate


def rounded_bpp(model: LatentGridImage) -> float:
    """Bits per pixel of the rounded grids under the float ARM: what the coded grids
    cost, nearly (the file's tables are the integer ARM's). The noisy rate the fit
    minimizes is no guide to it at low rates: a grid value that carries nothing still
    pays for its noise (about 0.1 bit under the narrowest scale)."""
    with torch.no_grad():
        bits = sum(model.arm.grid_bits(torch.round(g)).sum() for g in model.latents)
    return float(bits) / model.pixels


def rec_estimate(model: LatentGridImage, image: torch.Tensor, draws: int = 4) -> dict[str, float]:
    """What relative entropy coding of the grids would give, ideally: the decoder gets an
    exact sample ``y + u`` of the box posterior ``U(y - 0.5, y + 0.5)`` of each grid
    value, at the cost of its KL divergence from the prior of ``y + u``: the ARM's
    Laplace convolved with the unit box, whose density at ``y + u`` is the mass of the
    Laplace over ``[y + u - 0.5, y + u + 0.5)``, so the KL is ``E_u[-log2 mass]``, the
    noisy rate the training proxy measures. A blockwise coder such as the INR codec's
    spends ``k`` bits per block of about ``k`` bits of KL; the per-block rounding and the
    networks' bits are not counted here.

    Returns:
        ``rec_kl_bpp`` (mean over ``draws`` noise draws of the summed KL, bits per pixel)
        and ``rec_psnr`` (dB of ``[0, 1]`` pixels, of the mean MSE over the draws,
        not rounded to 8 bits).
    """
    kl, mse = 0.0, 0.0
    with torch.no_grad(), torch.random.fork_rng(devices=[]):  # the fit's noise is unchanged
        for _ in range(draws):
            grids = model.quantized_grids("noise")
            kl += float(sum(model.arm.grid_bits(g).sum() for g in grids))
            x_hat = model.synthesis(model.upsample(grids)).clamp(0.0, 1.0)
            mse += float(torch.mean((x_hat - image) ** 2))
    return {
        "rec_kl_bpp": kl / draws / model.pixels,
        "rec_psnr": 10 * math.log10(draws / max(mse, 1e-12)),
    }


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
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise ModelError("the fit diverged: a grid value or weight is not finite")
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
