"""The auto-regressive entropy model of the latent grids, in float (training) and in
exact integers (coding).

Every latent ``q[i, j]`` of a grid is coded with a Laplace distribution whose mean and
log-scale a small MLP (the ARM, shared by all grids) predicts from :data:`CONTEXT`: the
12 already-coded latents in the two rows above (columns ``j - 2 .. j + 2``) and the two to
the left. Outside the grid the context is 0.

Coding needs the encoder and the decoder to pick the same table for every latent, so the
coded ARM runs in integers (:class:`IntegerARM`): weights are the transmitted integers
``W / 2**-e`` (``e``: the weight exponent), activations carry ``e`` fraction bits and are
clamped to ``[0, 2**32 - 1]``, every product and sum is an int64 (bounded below
``2**62``, checked when the net is built) and the shifts floor. The outputs (mean and
log-scale with ``2 e`` fraction bits) become a table index with integer comparisons only:
the mean to a quarter step (:data:`MEAN_SHIFTS`), the log-scale against thresholds
computed once with :mod:`rdlab.detmath` (:data:`SCALES`). The float ARM used in training
has the same weights, without the rounding.

Decoding order (:func:`wavefront_order`): a latent's context lies on earlier *wavefronts*
``t = j + 3 i``, so a grid decodes one wavefront at a time, each a vector of latents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from .. import detmath
from ..coding.tables import FrequencyTables, log_scale_table, shifted_location_scale_tables
from ..errors import InputError

__all__ = [
    "ARM",
    "CONTEXT",
    "MEAN_SHIFTS",
    "SCALES",
    "IntegerARM",
    "arm_tables",
    "context_features",
    "laplace_bits",
    "wavefront_order",
]

CONTEXT: tuple[tuple[int, int], ...] = (
    *((-2, dx) for dx in range(-2, 3)),
    *((-1, dx) for dx in range(-2, 3)),
    (0, -2),
    (0, -1),
)
"""``(dy, dx)`` of the context latents, relative to the coded one."""
_REACH = 2  # largest |dx| in a row above: wavefront t = j + (_REACH + 1) i
MEAN_SHIFTS = 4
"""The mean is coded to ``1 / MEAN_SHIFTS`` of a quantization step."""
SCALES = log_scale_table(0.04, 64.0, 64)
"""Laplace scales (diversity ``b``, in quantization steps) of the coding tables."""
_KERNEL_TAPS = torch.tensor([(dy + 2) * (2 * _REACH + 1) + dx + _REACH for dy, dx in CONTEXT])
_LOG_MIN, _LOG_MAX = float(np.log(SCALES[0])), float(np.log(SCALES[-1]))
_ACT_MAX = (1 << 32) - 1
_LATENT_MAX = (1 << 15) - 1
_ACC_LIMIT = 1 << 62


@lru_cache(maxsize=1)
def arm_tables() -> FrequencyTables:
    """The shared coding tables: index ``scale_index * MEAN_SHIFTS + mean_fraction``."""
    return shifted_location_scale_tables("laplace", SCALES, MEAN_SHIFTS)


def wavefront_order(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The decoding order of a ``height x width`` grid.

    Returns:
        ``(order, starts)``: ``order`` the flat indexes (``i * width + j``) sorted by
        wavefront ``j + 3 i`` then row; ``starts`` (int64, one more than the number of
        wavefronts) where each wavefront begins in ``order``.
    """
    i, j = np.divmod(np.arange(height * width, dtype=np.int64), width)
    front = j + (_REACH + 1) * i
    order = np.lexsort((i, front))
    counts = np.bincount(front, minlength=int(front.max(initial=-1)) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, starts


def context_features(grid: torch.Tensor) -> torch.Tensor:
    """The context of every latent of ``grid`` (shape ``(h, w)``): ``(h * w, 12)``."""
    h, w = grid.shape
    padded = functional.pad(grid[None, None], (_REACH, _REACH, 2, 0))[0, 0]
    columns = [padded[2 + dy : 2 + dy + h, _REACH + dx : _REACH + dx + w] for dy, dx in CONTEXT]
    return torch.stack(columns, dim=-1).reshape(h * w, len(CONTEXT))


def laplace_bits(values: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Bits of integer-spaced ``values`` under Laplace bins ``[v - 0.5, v + 0.5)`` (the
    training proxy: ``values`` may carry noise); same shapes, float."""
    log_scale = log_scale.clamp(_LOG_MIN, _LOG_MAX)
    inverse = torch.exp(-log_scale)
    # reflect to the left half (the bin's upper edge u = (0.5 - |v - mean|) / b): a bin
    # wholly left of the mean has mass exp(u) (1 - exp(-1/b)) / 2, its log computed
    # directly (no underflow far in the tail, where the rate's gradient matters most);
    # the bin holding the mean has 1 - exp(-u) / 2 - exp(u - 1/b) / 2
    upper = (0.5 - (values - mean).abs()) * inverse
    tail = math.log(0.5) + upper + torch.log1p(-torch.exp(-inverse))
    inside = upper.clamp(min=0.0)
    centre = torch.log(1 - 0.5 * torch.exp(-inside) - 0.5 * torch.exp(inside - inverse))
    return torch.where(upper <= 0, tail, centre) / -math.log(2.0)


class ARM(nn.Module):
    """The float ARM: ``12 -> hidden -> hidden -> 2`` (ReLU), outputs mean and log-scale
    (natural log of the Laplace diversity, in quantization steps)."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.hidden = hidden
        self.layers = nn.ModuleList(
            [nn.Linear(len(CONTEXT), hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 2)]
        )
        with torch.no_grad():  # start near "mean 0, scale 1"
            self.layers[-1].weight.mul_(0.1)
            self.layers[-1].bias.zero_()

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = context
        for layer in self.layers[:-1]:
            a = functional.relu(layer(a))
        out = self.layers[-1](a)
        return out[..., 0], out[..., 1]

    def grid_parameters(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-scale ``(h * w,)`` of every latent of ``grid`` ``(h, w)`` given its
        context (same grid). The first layer runs as a masked 3x5 convolution: the same
        sums as :func:`context_features` followed by ``forward``, without the 12 shifted
        copies."""
        h, w = grid.shape
        first = self.layers[0]
        taps = 3 * (2 * _REACH + 1)
        kernel = first.weight.new_zeros(self.hidden, taps).index_copy(1, _KERNEL_TAPS, first.weight)
        kernel = kernel.reshape(self.hidden, 1, 3, 2 * _REACH + 1)
        padded = functional.pad(grid[None, None], (_REACH, _REACH, 2, 0))
        a = functional.conv2d(padded, kernel, first.bias).reshape(self.hidden, h * w)
        for layer in self.layers[1:]:
            a = layer.weight @ functional.relu(a) + layer.bias[:, None]
        return a[0], a[1]

    def grid_bits(self, grid: torch.Tensor) -> torch.Tensor:
        """Bits ``(h * w,)`` of every latent of ``grid`` ``(h, w)`` (:func:`laplace_bits`)."""
        mean, log_scale = self.grid_parameters(grid)
        return laplace_bits(grid.reshape(-1), mean, log_scale)


@dataclass(frozen=True)
class IntegerARM:
    """The coded ARM: integer weights ``W_int = W * 2**e`` and biases of each layer.

    Args:
        weights: per layer, int64 ``(out, in)``.
        biases: per layer, int64 ``(out,)`` (also ``2**e`` units).
        exponent: ``e``, the weight fraction bits (1..16).

    Raises:
        InputError: shapes that do not chain from 12 inputs to 2 outputs, an exponent out
            of range or weights so large that an accumulator could pass ``2**62``.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    exponent: int

    def __post_init__(self) -> None:
        if not 1 <= self.exponent <= 16:
            raise InputError("exponent", f"must be in 1..16, got {self.exponent}")
        width = len(CONTEXT)
        bound = _LATENT_MAX
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
                raise InputError("arm", f"layer {index} has shape {w.shape}, expected (*, {width})")
            # Python integers: np.abs of the most negative int64 would wrap
            peak_w = max(int(w.max(initial=0)), -int(w.min(initial=0)))
            peak_b = max(int(b.max(initial=0)), -int(b.min(initial=0)))
            largest = peak_w * bound * width + (peak_b << (self.exponent if index else 0))
            if largest >= _ACC_LIMIT:
                raise InputError("arm", f"layer {index}'s weights are too large to run exactly")
            width, bound = w.shape[0], _ACT_MAX
        if width != 2:
            raise InputError("arm", f"the last layer has {width} outputs, expected 2")

    def outputs(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and log-scale with ``2 e`` fraction bits (int64 ``(n,)`` each) from integer
        contexts ``(n, 12)``."""
        e = self.exponent
        a = np.clip(context.astype(np.int64), -_LATENT_MAX, _LATENT_MAX)
        last = len(self.weights) - 1
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            acc = a @ w.T + (b << e if index else b)  # fraction bits: e (first), 2e (later)
            if index == last:
                if index == 0:
                    acc = acc << e
                return acc[:, 0], acc[:, 1]
            a = acc if index == 0 else acc >> e
            a = np.clip(a, 0, _ACT_MAX)
        raise AssertionError("unreachable")

    def table_indexes(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(base, index)`` per latent: the integer part of the quarter-step mean (the
        coded value is ``q - base``) and the table in :func:`arm_tables`."""
        mean, log_scale = self.outputs(context)
        bits = 2 * self.exponent
        quarter = (mean * MEAN_SHIFTS + (1 << (bits - 1))) >> bits
        base = quarter // MEAN_SHIFTS
        fraction = quarter - base * MEAN_SHIFTS
        scale_index = np.searchsorted(_thresholds(bits), log_scale, side="left")
        return base, scale_index * MEAN_SHIFTS + fraction

    @classmethod
    def from_float(cls, arm: ARM, exponent: int) -> IntegerARM:
        """Round a float ARM's weights and biases to multiples of ``2**-exponent``."""
        weights, biases = [], []
        for layer in arm.layers:
            weights.append(_round_scaled(layer.weight, exponent))
            biases.append(_round_scaled(layer.bias, exponent))
        return cls(tuple(weights), tuple(biases), exponent)

    def load_into(self, arm: ARM) -> None:
        """Set ``arm``'s float weights to this net's (exact multiples of ``2**-e``)."""
        scale = 2.0**-self.exponent
        with torch.no_grad():
            for layer, w, b in zip(arm.layers, self.weights, self.biases, strict=True):
                layer.weight.copy_(torch.from_numpy(w.astype(np.float64) * scale))
                layer.bias.copy_(torch.from_numpy(b.astype(np.float64) * scale))


def _round_scaled(values: torch.Tensor, exponent: int) -> np.ndarray:
    return np.rint(values.detach().double().numpy() * 2.0**exponent).astype(np.int64)


@lru_cache(maxsize=32)
def _thresholds(bits: int) -> np.ndarray:
    """Log-scale thresholds between table scales, ``2**bits`` units (int64, increasing):
    a log-scale ``<=`` threshold ``k`` takes scale ``k`` (the nearest in log)."""
    logs = detmath.log(SCALES)
    middle = 0.5 * (logs[:-1] + logs[1:])
    return np.floor(middle * float(1 << bits)).astype(np.int64)
