"""Checkerboard context model (He et al. 2021) on top of the hyperprior, decoded exactly.

The latent ``y (B, M, h, w)`` is split by a checkerboard: **anchors** (positions with
``(row + column)`` even) are coded first with the hyperprior's tables, exactly as
:class:`~rdlab.nn.latent_codecs.HyperpriorLatentCodec` codes every position; the other
half, the **non-anchors**, are then coded with tables chosen from a *context*: the
hyperprior's scale index at the position and the decoded anchor residuals around it.

Exactness. The context's scale index is what selects a non-anchor's table, so it is
computed by an :class:`~rdlab.nn.integer_net.IntegerScaleNet` (exact integer arithmetic)
from integer inputs only:

* the hyperprior's scale **indexes** (0 … 63, from the integer scale branch), and
* the anchors' integer **residuals** ``q = round(y − μ)`` (zero at non-anchor positions).

Both sides hold exactly these integers, so both compute the same indexes on any machine,
thread count and batch. The context's **means** (``μ + context_means([μ, ŷ_anchor])``) are
float: they only move reconstructed values, never which table decodes a symbol.

Training differentiates the float ``context_scales`` (the source of the integer branch)
and ``context_means``; the scale-index input is the float rule's index of the predicted
hyperprior scale (the integer branch agrees with it up to rounding at table boundaries).

Streams: ``[hyper-latent, anchors, non-anchors]``; ``w`` must be even.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from .._threads import one_thread
from ..errors import CorruptStreamError, InputError, ModelError
from .entropy.base import TrainingProxy, ste_round
from .entropy.bottleneck import EntropyBottleneck
from .entropy.conditional import LocationScaleConditional
from .integer_net import IntegerScaleNet
from .latent_codecs import HYPER_LATENT_LIMIT, HyperpriorLatentCodec, ScaleBranch

__all__ = [
    "CheckerboardLatentCodec",
    "anchor_mask",
    "context_branches",
    "merge_checkerboard",
    "split_checkerboard",
]


INDEX_SCALE = 2.0**-6
"""The scale indexes (0 … 63) enter the float context at this scale (about [0, 1))."""
RESIDUAL_SCALE = 2.0**-3
"""Anchor residuals (and, in the mean branch, means and anchor values) enter at this
scale. Both are powers of two, folded exactly into the first convolution's weights of
the integer branch, which takes the raw integers."""


def anchor_mask(height: int, width: int, device: Any = None) -> torch.Tensor:
    """``(1, 1, height, width)`` float: 1 at anchors (``(row + column)`` even), else 0."""
    rows = torch.arange(height, device=device)[:, None]
    cols = torch.arange(width, device=device)[None, :]
    return ((rows + cols) % 2 == 0).to(torch.float32)[None, None]


def _pairs(t: torch.Tensor) -> torch.Tensor:
    if t.shape[-1] % 2:
        raise InputError("latent", f"checkerboard coding needs an even width, got {t.shape[-1]}")
    return t.reshape(*t.shape[:-1], t.shape[-1] // 2, 2)


def split_checkerboard(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(anchors, non-anchors)`` of ``t (..., h, w)``, each ``(..., h, w / 2)`` (row-major
    order within each row)."""
    pairs = _pairs(t)
    odd = (torch.arange(t.shape[-2], device=t.device) % 2 == 1)[:, None]
    anchors = torch.where(odd, pairs[..., 1], pairs[..., 0])
    others = torch.where(odd, pairs[..., 0], pairs[..., 1])
    return anchors, others


def merge_checkerboard(anchors: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_checkerboard`: ``(..., h, w)``."""
    odd = (torch.arange(anchors.shape[-2], device=anchors.device) % 2 == 1)[:, None]
    first = torch.where(odd, others, anchors)
    second = torch.where(odd, anchors, others)
    return torch.stack([first, second], dim=-1).reshape(*anchors.shape[:-1], -1)


def context_branches(
    m: int, hidden: int | None = None, kernel: int = 5
) -> tuple[nn.Sequential, nn.Sequential]:
    """Default ``(context_scales, context_means)`` for ``M = m`` latent channels: each maps
    ``(B, 2m, h, w)`` to ``(B, m, h, w)`` with a ``kernel``² convolution (3: the four
    neighbouring anchors; 5: also the ring beyond) and two 1×1 convolutions, ReLU between
    (the form :class:`~rdlab.nn.integer_net.IntegerScaleNet` makes exact); ``hidden``
    channels (default 2m)."""
    hidden = hidden or 2 * m

    def branch() -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(2 * m, hidden, kernel, padding=kernel // 2),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, m, 1),
        )

    return branch(), branch()


class CheckerboardLatentCodec(HyperpriorLatentCodec):
    """A :class:`~rdlab.nn.latent_codecs.HyperpriorLatentCodec` whose non-anchor half is
    coded with a checkerboard context (see the module docstring).

    Args:
        h_a, h_s_means, h_s_scales, entropy_bottleneck, conditional, scale_branch: as for
            the hyperprior (``conditional`` must be a
            :class:`~rdlab.nn.entropy.LocationScaleConditional`).
        context_scales: float chain of convolutions and ReLUs, ``[scale index, anchor
            residual]`` ``(B, 2M, h, w)`` → non-anchor scales ``(B, M, h, w)``.
        context_means: ``[μ, anchor ŷ]`` ``(B, 2M, h, w)`` → mean correction ``(B, M, h, w)``.
        context_branch: the exact integer form of ``context_scales`` (``None`` until
            :meth:`update` is given calibration latents).
    """

    coding_names = ("scale_net.", "context_net.")

    def __init__(
        self,
        h_a: nn.Module,
        h_s_means: nn.Module | None,
        h_s_scales: nn.Module,
        entropy_bottleneck: EntropyBottleneck,
        conditional: LocationScaleConditional,
        context_scales: nn.Sequential,
        context_means: nn.Module,
        scale_branch: ScaleBranch | None = None,
        context_branch: IntegerScaleNet | None = None,
    ) -> None:
        if not isinstance(conditional, LocationScaleConditional):
            raise ModelError("checkerboard latent codec: needs a LocationScaleConditional")
        super().__init__(h_a, h_s_means, h_s_scales, entropy_bottleneck, conditional, scale_branch)
        self.context_scales = context_scales
        self.context_means = context_means
        self.context_branch = context_branch

    # -- the context -------------------------------------------------------------------------
    def _float_index(self, scales: torch.Tensor) -> torch.Tensor:
        """The float rule's scale index of each predicted scale (no gradient), float32."""
        table = torch.as_tensor(self.scale_table, dtype=scales.dtype, device=scales.device)
        index = torch.searchsorted(table, scales.detach().contiguous(), right=False)
        return index.clamp_(max=table.numel() - 1).to(scales.dtype)

    def _context_means(
        self, means: torch.Tensor, residuals: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Non-anchor means ``μ + context_means([μ, (q + μ)·anchor])``."""
        anchors = (residuals + means) * mask
        inputs = torch.cat([means, anchors], dim=1) * RESIDUAL_SCALE
        if torch.is_grad_enabled():
            return means + self.context_means(inputs)
        with one_thread():  # coding: the same means whatever the caller's thread count
            return means + self.context_means(inputs)

    def _means_or_zeros(self, z_hat: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        means = self.means(z_hat)
        return torch.zeros_like(like) if means is None else means

    # -- training ----------------------------------------------------------------------------
    def forward(
        self,
        y: torch.Tensor,
        *,
        z: torch.Tensor | None = None,
        training_proxy: TrainingProxy = "mixed",
    ) -> dict[str, torch.Tensor]:
        """Training pass (see :meth:`HyperpriorLatentCodec.forward`); ``scales`` and
        ``means`` are those each position is coded with (anchors: hyperprior; others:
        context)."""
        if z is None:
            z = self.h_a(y)
        z_hat, bits_z = self.entropy_bottleneck(z, training_proxy=training_proxy)
        means = self._means_or_zeros(z_hat, y)
        scales = self.h_s_scales(z_hat)
        y_anchor, bits_anchor = self.conditional(y, scales, means, training_proxy=training_proxy)
        mask = anchor_mask(*y.shape[-2:], device=y.device)
        residuals = ste_round(y - means) * mask  # what the decoder knows of the anchors
        index = self._float_index(scales)
        inputs = torch.cat([index * INDEX_SCALE, residuals * RESIDUAL_SCALE], dim=1)
        context_scales = self.context_scales(inputs)
        context_means = self._context_means(means, residuals, mask)
        y_other, bits_other = self.conditional(
            y, context_scales, context_means, training_proxy=training_proxy
        )
        return {
            "y_hat": mask * y_anchor + (1 - mask) * y_other,
            "z_hat": z_hat,
            "means": mask * means + (1 - mask) * context_means,
            "scales": mask * scales + (1 - mask) * context_scales,
            "bits_y": mask * bits_anchor + (1 - mask) * bits_other,
            "bits_z": bits_z,
        }

    # -- what coding needs --------------------------------------------------------------------
    @torch.no_grad()
    def update(
        self,
        calibration_z: torch.Tensor | None = None,
        *,
        weight_bits: int = 12,
        calibration_y: torch.Tensor | None = None,
    ) -> None:
        """As :meth:`HyperpriorLatentCodec.update`; with ``calibration_y`` (realistic
        latents ``(B, M, h, w)``) also the integer context branch from ``context_scales``
        (its ``ẑ`` default to ``round(h_a(y))``).

        Raises:
            ModelError: a branch cannot be made exact in integers.
        """
        if calibration_y is not None and calibration_z is None:
            calibration_z = torch.round(self.h_a(calibration_y))
        super().update(calibration_z, weight_bits=weight_bits)
        if calibration_y is None:
            return
        y = calibration_y.detach().cpu().float()
        z_hat = calibration_z.detach().cpu().float()
        means = self._means_or_zeros(z_hat, y).cpu()
        indexes = self.scale_indexes(z_hat)
        residuals = self.conditional.coder.quantize(y.numpy(), means.numpy())
        inputs = self._context_input(indexes, residuals * anchor_mask(*y.shape[-2:]).numpy())
        self.context_branch = IntegerScaleNet.from_module(
            self._folded_context_scales(), torch.from_numpy(inputs), weight_bits
        )

    def _folded_context_scales(self) -> nn.Sequential:
        """``context_scales`` taking the raw integers: the input scales (powers of two)
        folded into the first convolution's weights, exactly."""
        folded = copy.deepcopy(self.context_scales)
        first = folded[0]
        m = first.in_channels // 2
        with torch.no_grad():
            first.weight[:, :m] *= INDEX_SCALE
            first.weight[:, m:] *= RESIDUAL_SCALE
        return folded

    @staticmethod
    def _context_input(indexes: np.ndarray, residuals: np.ndarray) -> np.ndarray:
        """``[scale indexes, anchor residuals]`` as integer-valued float64 ``(B, 2M, h, w)``."""
        return np.concatenate([indexes, residuals], axis=1).astype(np.float64)

    def context_indexes(self, indexes: np.ndarray, residuals: np.ndarray) -> np.ndarray:
        """Scale indexes (int64 ``(B, M, h, w)``) of the context, exactly, from the
        hyperprior's ``indexes`` and the anchor ``residuals`` (zero off the anchors).

        Raises:
            ModelError: no integer context branch (call :meth:`update` with
                ``calibration_y``).
        """
        if self.context_branch is None:
            raise ModelError(
                "checkerboard latent codec: no context branch for coding; call "
                "update(calibration_y=...)"
            )
        inputs = self._context_input(indexes, residuals)
        return self.context_branch.scale_indexes(inputs, self.scale_table)

    def coding_arrays(self) -> dict[str, np.ndarray]:
        arrays = super().coding_arrays()
        if self.context_branch is not None:
            arrays.update(
                {f"context_net.{k}": v for k, v in self.context_branch.to_arrays().items()}
            )
        return arrays

    def set_coding_arrays(self, arrays: dict[str, np.ndarray] | None) -> None:
        if arrays is None:
            super().set_coding_arrays(None)
            self.context_branch = None
            return
        scale = {k: v for k, v in arrays.items() if k.startswith("scale_net.")}
        super().set_coding_arrays(scale or None)
        context = {
            k[len("context_net.") :]: v for k, v in arrays.items() if k.startswith("context_net.")
        }
        self.context_branch = IntegerScaleNet.from_arrays(context) if context else None

    # -- coding --------------------------------------------------------------------------------
    def _second_half(
        self, z_hat: torch.Tensor, indexes: np.ndarray, anchor_residuals: np.ndarray
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``(non-anchor means, non-anchor indexes)``, each ``(B, M, h, w / 2)``, from what
        both sides know once the anchors are decoded."""
        shape = indexes.shape
        zeros = torch.zeros((*shape[:-1], shape[-1] // 2), dtype=torch.int64)
        residuals = merge_checkerboard(torch.from_numpy(anchor_residuals), zeros).numpy()
        context = self.context_indexes(indexes, residuals)
        means = self._means_or_zeros(z_hat, torch.zeros(shape, dtype=torch.float32))
        mask = anchor_mask(*shape[-2:])
        context_means = self._context_means(means, torch.from_numpy(residuals).float(), mask)
        _, other_means = split_checkerboard(context_means)
        _, other_indexes = split_checkerboard(torch.from_numpy(context))
        return other_means, other_indexes.numpy()

    @torch.no_grad()
    def compress(
        self, y: torch.Tensor, z: torch.Tensor | None = None
    ) -> tuple[list[bytes], tuple[int, ...]]:
        """Code ``y (B, M, h, w)`` (``w`` even) as ``[hyper-latent, anchors, non-anchors]``
        streams; returns them and the hyper-latent's shape."""
        if z is None:
            z = self.h_a(y)
        z_hat = torch.round(z)
        hyper = self.entropy_bottleneck.compress(z_hat)
        indexes = self.scale_indexes(z_hat)
        means = self._means_or_zeros(z_hat, y)
        y_anchor, y_other = split_checkerboard(y)
        idx_anchor, _ = split_checkerboard(torch.from_numpy(indexes))
        mu_anchor, _ = split_checkerboard(means)
        anchors = self.conditional.compress(y_anchor, idx_anchor.numpy(), mu_anchor)
        q_anchor = self.conditional.coder.quantize(y_anchor.numpy(), mu_anchor.numpy())
        other_means, other_indexes = self._second_half(z_hat, indexes, q_anchor)
        others = self.conditional.compress(y_other, other_indexes, other_means)
        return [hyper, anchors, others], tuple(z_hat.shape)

    def _decode(self, strings: Any, shape: Any, what: tuple[str, ...]) -> dict[str, Any]:
        """Everything the three streams decode to (see :meth:`decode_symbols`), plus the
        hyperprior ``means`` and the non-anchors' ``other_means`` (float32)."""
        if len(strings) != 3 or len(what) != 3:
            raise InputError("strings", "needs the hyper-latent, anchor and non-anchor streams")
        z_hat = self.entropy_bottleneck.decompress(strings[0], shape, what=what[0])
        if z_hat.numel() and float(z_hat.abs().max()) > HYPER_LATENT_LIMIT:
            raise CorruptStreamError(f"{what[0]}: hyper-latent out of range")
        indexes = self.scale_indexes(z_hat)
        idx_anchor, _ = split_checkerboard(torch.from_numpy(indexes))
        q_anchor = self.conditional.decode_symbols(strings[1], idx_anchor.numpy(), what[1])
        if q_anchor.size and np.abs(q_anchor).max() > HYPER_LATENT_LIMIT:
            raise CorruptStreamError(f"{what[1]}: residual out of range")
        other_means, other_indexes = self._second_half(z_hat, indexes, q_anchor)
        q_other = self.conditional.decode_symbols(strings[2], other_indexes, what[2])
        return {
            "z": z_hat,
            "indexes": indexes,
            "context_indexes": other_indexes,
            "q_anchor": q_anchor,
            "q_other": q_other,
            "means": self._means_or_zeros(z_hat, torch.zeros(indexes.shape)),
            "other_means": other_means,
        }

    @torch.no_grad()
    def decompress(
        self,
        strings: Any,
        shape: Any,
        *,
        what: tuple[str, ...] = ("hyper-latent stream", "anchor stream", "non-anchor stream"),
    ) -> torch.Tensor:
        """Inverse of :meth:`compress`: ``ŷ`` float32 ``(B, M, h, w)``.

        Raises:
            LengthError, CorruptStreamError: as :meth:`HyperpriorLatentCodec.decompress`.
        """
        parts = self._decode(strings, shape, what)
        mu_anchor, _ = split_checkerboard(parts["means"])
        anchors = torch.from_numpy(parts["q_anchor"]).float() + mu_anchor
        others = torch.from_numpy(parts["q_other"]).float() + parts["other_means"]
        return merge_checkerboard(anchors, others)

    @torch.no_grad()
    def decode_symbols(
        self,
        strings: Any,
        shape: Any,
        *,
        what: tuple[str, ...] = ("hyper-latent stream", "anchor stream", "non-anchor stream"),
    ) -> dict[str, np.ndarray]:
        """The integers the streams decode to (int64): ``z``, the hyperprior ``indexes``,
        the ``context_indexes`` of the non-anchors (``(B, M, h, w / 2)``) and the
        ``residuals`` (``(B, M, h, w)``, anchors and non-anchors merged)."""
        parts = self._decode(strings, shape, what)
        residuals = merge_checkerboard(
            torch.from_numpy(parts["q_anchor"]), torch.from_numpy(parts["q_other"])
        )
        return {
            "z": parts["z"].cpu().numpy().astype(np.int64),
            "indexes": parts["indexes"],
            "context_indexes": parts["context_indexes"],
            "residuals": residuals.numpy(),
        }
