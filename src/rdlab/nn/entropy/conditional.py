"""The indexed location-scale conditional as one module: training rate, scale indexes, bytes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ...coding.conditional import LocationScaleCoder
from ...coding.quantize import PRECISION
from ..entropy_models import location_scale_bin_likelihood
from .base import TrainingProxy, check_proxy, ste_round, uniform_noise

__all__ = ["LocationScaleConditional", "latent_array", "latent_tensor"]


def latent_array(x: Any) -> np.ndarray | None:
    """A tensor (or array) as a float64 numpy array on the CPU (``None`` stays ``None``)."""
    if x is None:
        return None
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(np.float64)


def latent_tensor(values: np.ndarray, like: Any) -> torch.Tensor:
    """float32 tensor of ``values`` on the device of ``like`` (a tensor; else the CPU)."""
    out = torch.from_numpy(np.asarray(values).astype(np.float32))
    return out.to(like.device) if torch.is_tensor(like) else out


class LocationScaleConditional(nn.Module):
    """Latents coded given a mean and a scale per element: CompressAI's
    ``GaussianConditional``, for the Gaussian, Laplace or logistic family.

    Training rates use the continuous family at the predicted scale; coding uses the
    integer table of the element's **scale index** (the smallest scale of
    :attr:`scale_table` at least as large), built deterministically by
    :class:`rdlab.coding.LocationScaleCoder` (:mod:`rdlab.detmath` arithmetic: the same
    integers on every machine, so nothing of it needs saving). Only the indexes must
    agree between encoder and decoder; in a hyperprior they come from an exact integer
    network (:class:`~rdlab.nn.integer_net.IntegerScaleNet`).

    Args:
        family: ``"gaussian"``, ``"laplace"`` or ``"logistic"`` (what "scale" means per
            family: :data:`rdlab.coding.tables.FAMILIES`).
        scale_table: increasing scales > 0 (latent units); default 64 log-spaced scales
            from 0.11 to 256. Training scales are floored at its first entry.
        precision: bits of the integer tables.

    Shapes: ``y``, ``scales``, ``means`` and ``indexes`` all of one shape, e.g.
    ``(B, M, h, w)``.
    """

    def __init__(
        self, family: str = "gaussian", scale_table: Any = None, precision: int = PRECISION
    ) -> None:
        super().__init__()
        self.coder = LocationScaleCoder(family, scale_table, precision)
        self.family = self.coder.family

    @property
    def scale_table(self) -> np.ndarray:
        """The scales of the integer tables (float64, increasing)."""
        return self.coder.scales

    def likelihood(
        self, y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mass of the unit bin around each ``y`` (floored at 1e-9), shaped like ``y``."""
        return location_scale_bin_likelihood(
            y, means, scales, self.family, float(self.scale_table[0])
        )

    def forward(
        self,
        y: torch.Tensor,
        scales: torch.Tensor,
        means: torch.Tensor | None = None,
        *,
        training_proxy: TrainingProxy = "noise",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The training proxy of ``y`` and its rate.

        Args:
            y: latent; scales: predicted scales (> 0, latent units); means: predicted
                means (``None``: 0).
            training_proxy: ``"noise"``, ``"ste"``, ``"mixed"`` or ``None``
                (:mod:`rdlab.nn.entropy.base`); quantization is of ``y - means``.

        Returns:
            ``(y_hat, bits)`` shaped like ``y``: the reconstruction ``round(y - μ) + μ``
            (or its proxy) and each element's information content in **bits**.
        """
        check_proxy(training_proxy)
        if training_proxy in ("noise", "mixed"):
            noisy = uniform_noise(y)
            bits = -torch.log2(self.likelihood(noisy, scales, means))
            if training_proxy == "noise":
                return noisy, bits
            return self._rounded(y, means, ste=True), bits
        y_hat = self._rounded(y, means, ste=training_proxy == "ste")
        return y_hat, -torch.log2(self.likelihood(y_hat, scales, means))

    @staticmethod
    def _rounded(y: torch.Tensor, means: torch.Tensor | None, ste: bool) -> torch.Tensor:
        rounding = ste_round if ste else torch.round
        return rounding(y) if means is None else rounding(y - means) + means

    def scale_indexes(self, scales: Any) -> np.ndarray:
        """Table index of each scale (float rule: the smallest table scale >= it), int64.

        This float comparison is exact for given scales, but scales computed by a float
        network may differ in their last bit across machines; a codec that must decode
        anywhere takes its indexes from an integer network instead.

        Raises:
            InputError: a scale <= 0 or not finite.
        """
        return self.coder.scale_indexes(latent_array(scales))

    def compress(self, y: torch.Tensor, indexes: Any, means: Any = None) -> bytes:
        """Range-code ``round(y - means)`` with the tables of ``indexes`` (int, shape of
        ``y``); returns the bytes.

        Raises:
            InputError: shapes differ, indexes outside the table, non-finite values.
        """
        return self.coder.encode_latents(latent_array(y), indexes, latent_array(means))

    def decode_symbols(self, data: bytes, indexes: Any, what: str = "latent stream") -> np.ndarray:
        """The integer residuals ``round(y - means)`` (int64, shape of ``indexes``)."""
        return self.coder.decode(data, indexes, what)

    def decompress(
        self, data: bytes, indexes: Any, means: Any = None, *, what: str = "latent stream"
    ) -> torch.Tensor:
        """Inverse of :meth:`compress`: ``round(y - means) + means`` as float32 (on the
        device of ``means``).

        Raises:
            LengthError: ``data`` is too short for the indexes (checked first).
            CorruptStreamError: not such a stream; :class:`~rdlab.errors.StreamEndError`
                when it does not end with the last residual.
        """
        symbols = self.decode_symbols(data, indexes, what)
        return latent_tensor(self.coder.dequantize(symbols, latent_array(means)), means)
