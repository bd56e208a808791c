"""The latent-grid image representation (in the manner of Cool-chic and C3).

An image ``(C, H, W)`` is represented by ``L`` latent grids, grid ``l`` of
``ceil(H / 2**l) x ceil(W / 2**l)`` values (one value per grid point, in quantization
steps), an auto-regressive entropy model of the grids (:class:`rdlab.overfit.arm.ARM`)
and a small synthesis network: every grid is upsampled (bicubic) to ``H x W``, the ``L``
channels go through per-pixel linear layers (``L -> hidden ... -> C``) and two 3x3
residual layers. All of it is fitted to one image; the grids are rounded to integers and
the networks' weights to multiples of a power of two before coding.

Cost of decoding, per pixel: :meth:`LatentGridImage.macs_per_pixel` multiply-adds
(synthesis, plus the ARM's per latent, ``4/3`` latents per pixel).

The 3x3 layers are written as nine shifted products summed in a fixed order and the
per-pixel layers as matrix products, so the decoder gives the same pixels for any
thread count (tested) on one machine; the latents and hence the file decode the same
everywhere (the integer ARM).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional

from ..errors import InputError
from .arm import ARM

__all__ = ["LatentGridImage", "Synthesis", "bicubic_matrix", "grid_shapes"]

_RESIDUAL_LAYERS = 2


def grid_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """``(h, w)`` of each latent grid, finest first: ``ceil(H / 2**l), ceil(W / 2**l)``."""
    return [(-(-height // (1 << level)), -(-width // (1 << level))) for level in range(levels)]


@lru_cache(maxsize=64)
def bicubic_matrix(size: int, out: int) -> torch.Tensor:
    """``(size, out)`` float32 whose row ``i`` is the unit vector ``e_i`` of ``size``
    samples upsampled to ``out`` by torch's bicubic interpolation (``align_corners=False``,
    edges repeated): ``x @ bicubic_matrix(n, m)`` upsamples the last axis of ``x``. Shared
    and read-only (cached)."""
    eye = torch.eye(size)[None, None]
    matrix = functional.interpolate(eye, size=(size, out), mode="bicubic", align_corners=False)
    return matrix[0, 0].contiguous()


def _conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A 3x3 convolution ``(C, H, W) -> (C', H, W)`` (zero padding) as one matrix product
    of the nine shifted copies: no convolution kernel, the same sums in any thread count."""
    c, h, w = x.shape
    padded = functional.pad(x, (1, 1, 1, 1))
    taps = [padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    stacked = torch.stack(taps, dim=1).reshape(c * 9, h * w)
    return (weight.reshape(weight.shape[0], c * 9) @ stacked).reshape(-1, h, w) + bias[
        :, None, None
    ]


class Synthesis(nn.Module):
    """Per-pixel layers ``inputs -> hidden... -> channels`` (ReLU between), then two 3x3
    residual layers on the ``channels`` (``x + conv(x)``, ``x + conv(relu(x))``, starting
    as the identity)."""

    def __init__(self, inputs: int, hidden: Sequence[int], channels: int) -> None:
        super().__init__()
        sizes = [inputs, *hidden, channels]
        self.linear = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.residual = nn.ParameterList()
        for _ in range(_RESIDUAL_LAYERS):
            self.residual.append(nn.Parameter(torch.zeros(channels, channels, 3, 3)))
            self.residual.append(nn.Parameter(torch.zeros(channels)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` ``(inputs, H, W)`` to the image ``(channels, H, W)``."""
        _, h, w = features.shape
        a = features.reshape(features.shape[0], h * w)
        last = len(self.linear) - 1
        for index, layer in enumerate(self.linear):
            a = layer.weight @ a + layer.bias[:, None]
            if index < last:
                a = functional.relu(a)
        x = a.reshape(-1, h, w)
        for index in range(_RESIDUAL_LAYERS):
            weight, bias = self.residual[2 * index], self.residual[2 * index + 1]
            x = x + _conv3x3(functional.relu(x) if index else x, weight, bias)
        return x

    def macs_per_pixel(self) -> int:
        linear = sum(layer.weight.numel() for layer in self.linear)
        return linear + sum(p.numel() for p in self.residual[::2])


class LatentGridImage(nn.Module):
    """Latent grids, ARM and synthesis for one ``channels x height x width`` image.

    Args:
        height, width: image size in pixels (>= 1).
        channels: 1 or 3.
        levels: number of grids (1..12); grids are never smaller than 1x1.
        hidden: widths of the synthesis's hidden per-pixel layers.
        arm_hidden: width of the ARM's two hidden layers.

    Raises:
        InputError: a size, channel count, level count or width out of range.
    """

    def __init__(
        self,
        height: int,
        width: int,
        channels: int = 3,
        levels: int = 7,
        hidden: Sequence[int] = (32,),
        arm_hidden: int = 16,
    ) -> None:
        super().__init__()
        if height < 1 or width < 1:
            raise InputError("image", f"must be at least 1x1, got {height}x{width}")
        if channels not in (1, 3):
            raise InputError("channels", f"must be 1 or 3, got {channels}")
        if not 1 <= levels <= 12:
            raise InputError("levels", f"must be in 1..12, got {levels}")
        if not all(1 <= h <= 256 for h in hidden) or not 1 <= arm_hidden <= 64:
            raise InputError("hidden", "widths must be in 1..256 (synthesis), 1..64 (ARM)")
        self.height, self.width, self.channels = height, width, channels
        self.hidden = tuple(int(h) for h in hidden)
        self.shapes = grid_shapes(height, width, levels)
        self.fit_report: dict[str, float] = {}  # set by rdlab.overfit.fit.fit_image
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(h, w)) for h, w in self.shapes)
        self.arm = ARM(arm_hidden)
        self.synthesis = Synthesis(levels, self.hidden, channels)

    @property
    def levels(self) -> int:
        return len(self.shapes)

    @property
    def pixels(self) -> int:
        return self.height * self.width

    def upsample(self, grids: Sequence[torch.Tensor]) -> torch.Tensor:
        """Every grid bicubically upsampled to ``(levels, H, W)`` (torch's bicubic,
        ``align_corners=False``).

        A grid that needs a gradient (the fit) is upsampled by two matrix products
        (:func:`bicubic_matrix`), whose backward is ten times faster than
        ``interpolate``'s on the CPU (5 against 47 ms for 640x426 and 7 grids) but whose
        cost grows with the square of the side; without a gradient (decoding,
        :func:`rdlab.overfit.fit.reconstruct`) ``interpolate`` runs, linear in the pixels,
        so every file decodes as before. The two agree to float rounding (7e-7 measured).
        """
        size = (self.height, self.width)
        planes = []
        for g in grids:
            if g.shape != size:
                if torch.is_grad_enabled() and g.requires_grad:
                    rows = bicubic_matrix(g.shape[0], self.height)
                    g = rows.T @ (g @ bicubic_matrix(g.shape[1], self.width))
                else:
                    g = functional.interpolate(
                        g[None, None], size=size, mode="bicubic", align_corners=False
                    )[0, 0]
            planes.append(g)
        return torch.stack(planes)

    def quantized_grids(self, mode: str) -> list[torch.Tensor]:
        """The grids as a training proxy sees them: ``"noise"`` (uniform noise in
        ``[-0.5, 0.5)``), ``"round"`` (rounded, straight-through gradient)."""
        if mode == "noise":
            return [g + torch.rand_like(g) - 0.5 for g in self.latents]
        if mode == "round":
            return [g + (torch.round(g) - g).detach() for g in self.latents]
        raise InputError("mode", f"must be 'noise' or 'round', got {mode!r}")

    def forward(self, mode: str = "noise") -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_hat, bits)``: the image ``(C, H, W)`` (not clamped) and the grids' bits
        under the float ARM (a scalar).

        ``mode``: ``"noise"`` (noisy grids for both), ``"mixed"`` (the synthesis sees
        the rounded grids with a straight-through gradient, the rate the noisy ones: the
        rate's gradient stays unbiased while the synthesis learns the real inputs) or
        ``"round"`` (rounded grids for both: the coded rate, for evaluation)."""
        if mode == "mixed":
            shown, rated = self.quantized_grids("round"), self.quantized_grids("noise")
        else:
            shown = rated = self.quantized_grids(mode)
        bits = sum(self.arm.grid_bits(g).sum() for g in rated)
        return self.synthesis(self.upsample(shown)), bits

    def macs_per_pixel(self) -> float:
        """Decoder multiply-adds per pixel: synthesis plus the ARM (per latent, times
        latents per pixel); upsampling not counted (16 per grid and pixel, bicubic)."""
        arm = sum(layer.weight.numel() for layer in self.arm.layers)
        latents = self.latent_count() / self.pixels
        return self.synthesis.macs_per_pixel() + arm * latents

    def latent_count(self) -> int:
        """Grid values over all levels (about ``4/3`` of the pixels)."""
        return sum(h * w for h, w in self.shapes)

    @staticmethod
    def default_levels(height: int, width: int) -> int:
        """Levels down to a coarsest grid of about 4-8 points per side (at most 7)."""
        return max(1, min(7, int(math.log2(max(1, min(height, width)))) - 2))
