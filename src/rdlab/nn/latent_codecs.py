"""Latent codecs: entropy modules and transforms assembled into one coder of a latent
(CompressAI's ``latent_codecs`` idea, with rdlab's determinism).

:class:`HyperpriorLatentCodec` codes a latent ``y`` with side information ``z``:

* ``z = h_a(y)`` is coded by an :class:`~rdlab.nn.entropy.EntropyBottleneck` (integer
  tables stored with the model);
* from ``ẑ``, the mean branch ``h_s_means`` (float) predicts ``μ`` and the **scale
  branch** predicts each element's scale index;
* ``y`` is coded by a conditional — :class:`~rdlab.nn.entropy.LocationScaleConditional`
  (scalar rounding of ``y - μ``) or :class:`~rdlab.nn.entropy.LatticeConditional`
  (lattice vectors) — with the tables of those indexes.

The scale branch is the swappable part. Training differentiates the float module
``h_s_scales``; coding takes the **indexes** from :attr:`HyperpriorLatentCodec.scale_branch`:
an :class:`~rdlab.nn.integer_net.IntegerScaleNet` (exact integer arithmetic: the same
indexes on every machine; built by :meth:`HyperpriorLatentCodec.update` from
``h_s_scales`` and calibration hyper-latents) or a :class:`FloatScaleBranch` (the float
module itself: for experiments decoded on the machine that encoded). The means only move
reconstructed values, never which table decodes a symbol, so they stay float.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from .._threads import one_thread
from ..errors import CorruptStreamError, InputError, ModelError
from .entropy.base import CodingState, TrainingProxy, scale_table_indexes
from .entropy.bottleneck import EntropyBottleneck
from .entropy.conditional import LocationScaleConditional
from .entropy.lattice import LatticeConditional
from .integer_net import IntegerScaleNet

__all__ = ["HYPER_LATENT_LIMIT", "FloatScaleBranch", "HyperpriorLatentCodec", "ScaleBranch"]

HYPER_LATENT_LIMIT = 2**15
"""Largest magnitude of a decoded hyper-latent value (the integer scale branch clamps its
input to ``±(2**15 - 1)``); a stream decoding beyond it is corrupt."""


class ScaleBranch(Protocol):
    """What a hyperprior codes its scales with: ``scale_indexes(z_hat, scale_table)``,
    quantized hyper-latents ``(B, N, h, w)`` (integers) to table indexes int64
    ``(B, M, ...)`` (the index of the smallest table scale >= each predicted scale)."""

    def scale_indexes(self, z_hat: Any, scale_table: Any) -> np.ndarray: ...


class FloatScaleBranch:
    """Scale indexes from a float network (e.g. the trained ``h_s_scales``).

    For experiments only: a float network's scales may differ in their last bit between
    machines, thread counts or devices, and a different index decodes garbage. Files
    meant to decode anywhere use an :class:`~rdlab.nn.integer_net.IntegerScaleNet`.

    Args:
        module: ``ẑ (B, N, h, w)`` → scales ``(B, M, ...)`` (latent units).
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    @torch.no_grad()
    def scale_indexes(self, z_hat: Any, scale_table: Any) -> np.ndarray:
        """Indexes int64 of the module's scales in ``scale_table`` (float comparison)."""
        device = next(self.module.parameters()).device
        z = torch.as_tensor(np.asarray(z_hat), dtype=torch.float32, device=device)
        return scale_table_indexes(self.module(z).cpu().numpy(), scale_table)


class HyperpriorLatentCodec(CodingState, nn.Module):
    """Codes a latent with a hyperprior; see the module docstring.

    Args:
        h_a: hyper-analysis, ``y (B, M, h, w)`` → ``z (B, N, h', w')``.
        h_s_means: mean branch, ``ẑ`` → ``μ`` shaped like ``y`` (``None``: zero means).
        h_s_scales: float scale branch, ``ẑ`` → scales shaped like ``y`` (> 0 after the
            conditional's floor; trained, and the source of the integer branch).
        entropy_bottleneck: the model of ``z``.
        conditional: the model of ``y`` given the scales and means
            (:class:`~rdlab.nn.entropy.LocationScaleConditional` or
            :class:`~rdlab.nn.entropy.LatticeConditional`).
        scale_branch: what coding takes the scale indexes from (an
            :class:`~rdlab.nn.integer_net.IntegerScaleNet`, a :class:`FloatScaleBranch`,
            or ``None`` until :meth:`update`). An ``IntegerScaleNet`` saves and loads
            with ``state_dict()`` (as its integer arrays under ``scale_net.``).
    """

    coding_names = ("scale_net.",)

    def __init__(
        self,
        h_a: nn.Module,
        h_s_means: nn.Module | None,
        h_s_scales: nn.Module,
        entropy_bottleneck: EntropyBottleneck,
        conditional: LocationScaleConditional | LatticeConditional,
        scale_branch: ScaleBranch | None = None,
    ) -> None:
        super().__init__()
        self.h_a = h_a
        self.h_s_means = h_s_means
        self.h_s_scales = h_s_scales
        self.entropy_bottleneck = entropy_bottleneck
        self.conditional = conditional
        self.scale_branch = scale_branch

    # -- training ----------------------------------------------------------------------
    def forward(
        self,
        y: torch.Tensor,
        *,
        z: torch.Tensor | None = None,
        training_proxy: TrainingProxy = "mixed",
    ) -> dict[str, torch.Tensor]:
        """Training pass.

        Args:
            y: latent ``(B, M, h, w)``.
            z: its hyper-latent (default ``h_a(y)``).
            training_proxy: of both ``z`` and ``y`` (default ``"mixed"``: noisy rates,
                straight-through values; :mod:`rdlab.nn.entropy.base`).

        Returns:
            ``y_hat`` (shaped like ``y``), ``z_hat``, ``means`` and ``scales`` (float
            predictions), and ``bits_y`` / ``bits_z``: the information content of each
            element of ``y`` and ``z`` in bits (shaped like them; sum for the rate).
        """
        if z is None:
            z = self.h_a(y)
        z_hat, bits_z = self.entropy_bottleneck(z, training_proxy=training_proxy)
        means = self.means(z_hat)
        scales = self.h_s_scales(z_hat)
        y_hat, bits_y = self.conditional(y, scales, means, training_proxy=training_proxy)
        return {
            "y_hat": y_hat,
            "z_hat": z_hat,
            "means": means,
            "scales": scales,
            "bits_y": bits_y,
            "bits_z": bits_z,
        }

    def means(self, z_hat: torch.Tensor) -> torch.Tensor | None:
        """``h_s_means(ẑ)`` (``None`` without a mean branch)."""
        if self.h_s_means is None:
            return None
        if torch.is_grad_enabled():
            return self.h_s_means(z_hat)
        with one_thread():  # coding: the same means whatever the caller's thread count
            return self.h_s_means(z_hat)

    # -- what coding needs -------------------------------------------------------------
    @torch.no_grad()
    def update(self, calibration_z: torch.Tensor | None = None, *, weight_bits: int = 12) -> None:
        """Build what coding needs: the bottleneck's integer tables, the conditional's
        coder (lattice: default cell samples, unless it has some) and, given
        ``calibration_z`` (realistic quantized hyper-latents ``(B, N, h, w)``), the integer
        scale branch from ``h_s_scales`` (:meth:`IntegerScaleNet.from_module
        <rdlab.nn.integer_net.IntegerScaleNet.from_module>`).

        Raises:
            ModelError: ``h_s_scales`` cannot be made exact in integers.
        """
        self.entropy_bottleneck.update()
        if isinstance(self.conditional, CodingState) and not self.conditional.coding_arrays():
            self.conditional.update()
        if calibration_z is not None:
            self.scale_branch = IntegerScaleNet.from_module(
                self.h_s_scales, calibration_z.detach().cpu(), weight_bits
            )

    @property
    def scale_table(self) -> np.ndarray:
        """The conditional's scale table (float64)."""
        return self.conditional.scale_table

    def scale_indexes(self, z_hat: Any) -> np.ndarray:
        """Scale indexes int64 ``(B, M, ...)`` of quantized hyper-latents ``(B, N, h, w)``
        from :attr:`scale_branch`.

        Raises:
            ModelError: no scale branch (call :meth:`update` with calibration data).
        """
        if self.scale_branch is None:
            raise ModelError(
                "hyperprior latent codec: no scale branch for coding; call "
                "update(calibration_z) (exact integers) or set scale_branch"
            )
        if torch.is_tensor(z_hat):
            z_hat = z_hat.detach().cpu().numpy()
        return self.scale_branch.scale_indexes(np.asarray(z_hat).astype(np.int64), self.scale_table)

    def coding_arrays(self) -> dict[str, np.ndarray]:
        if not isinstance(self.scale_branch, IntegerScaleNet):
            return {}
        return {f"scale_net.{k}": v for k, v in self.scale_branch.to_arrays().items()}

    def set_coding_arrays(self, arrays: dict[str, np.ndarray] | None) -> None:
        """The integer scale branch from its arrays (``None``: drop an integer branch; a
        :class:`FloatScaleBranch` has no state and stays)."""
        if arrays is None:
            if isinstance(self.scale_branch, IntegerScaleNet):
                self.scale_branch = None
            return
        self.scale_branch = IntegerScaleNet.from_arrays(
            {k[len("scale_net.") :]: v for k, v in arrays.items()}
        )

    # -- coding ------------------------------------------------------------------------
    @torch.no_grad()
    def compress(
        self, y: torch.Tensor, z: torch.Tensor | None = None
    ) -> tuple[list[bytes], tuple[int, ...]]:
        """Code ``y`` (and its hyper-latent ``z``, default ``h_a(y)``).

        Args:
            y: latent ``(B, M, h, w)``; the batch is coded as one stream per part.
            z: the continuous hyper-latent to send (e.g. refined), ``(B, N, h', w')``.

        Returns:
            ``(strings, shape)``: ``[hyper-latent stream, latent stream]`` (bytes) and the
            hyper-latent's shape ``(B, N, h', w')``, all :meth:`decompress` needs.
        """
        if z is None:
            z = self.h_a(y)
        z_hat = torch.round(z)
        hyper = self.entropy_bottleneck.compress(z_hat)
        indexes = self.scale_indexes(z_hat)
        latent = self.conditional.compress(y, indexes, self.means(z_hat))
        return [hyper, latent], tuple(z_hat.shape)

    def _hyper(
        self, strings: Any, shape: Any, what: tuple[str, str]
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``(ẑ float32, scale indexes int64)`` of the hyper-latent stream."""
        if len(strings) != 2 or len(what) != 2:
            raise InputError("strings", "needs the hyper-latent and the latent stream")
        z_hat = self.entropy_bottleneck.decompress(strings[0], shape, what=what[0])
        if z_hat.numel() and float(z_hat.abs().max()) > HYPER_LATENT_LIMIT:
            raise CorruptStreamError(f"{what[0]}: hyper-latent out of range")
        return z_hat, self.scale_indexes(z_hat)

    @torch.no_grad()
    def decompress(
        self,
        strings: Any,
        shape: Any,
        *,
        what: tuple[str, str] = ("hyper-latent stream", "latent stream"),
    ) -> torch.Tensor:
        """Inverse of :meth:`compress`: ``ŷ`` float32 ``(B, M, h, w)``.

        Args:
            strings: the two streams of :meth:`compress`.
            shape: the hyper-latent's shape.
            what: names of the two streams in error messages.

        Raises:
            LengthError: a stream too short for ``shape`` (checked before decoding).
            CorruptStreamError: a stream that is not such; its subclass
                :class:`~rdlab.errors.StreamEndError` when one does not end with its
                last symbol.
        """
        z_hat, indexes = self._hyper(strings, shape, what)
        return self.conditional.decompress(strings[1], indexes, self.means(z_hat), what=what[1])

    @torch.no_grad()
    def decode_symbols(
        self,
        strings: Any,
        shape: Any,
        *,
        what: tuple[str, str] = ("hyper-latent stream", "latent stream"),
    ) -> dict[str, np.ndarray]:
        """The integers the streams decode to (int64): ``z`` (hyper-latent), ``indexes``
        (scale indexes) and ``residuals`` (of the conditional: ``round(y - μ)``, or
        lattice coefficients), what must agree exactly on every machine."""
        z_hat, indexes = self._hyper(strings, shape, what)
        residuals = self.conditional.decode_symbols(strings[1], indexes, what[1])
        return {
            "z": z_hat.cpu().numpy().astype(np.int64),
            "indexes": indexes,
            "residuals": residuals,
        }
