"""The lattice conditional as one module: latent vectors quantized to a lattice, coded
with the indexed Gaussians' cell masses (what the ``default-e8`` model uses)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ...coding.lattice_latents import (
    LatticeLatentCoder,
    from_vectors,
    to_vectors,
    voronoi_cell_samples,
)
from ...coding.tables import log_scale_table
from ...errors import InputError, ModelError
from ..gdn import lower_bound
from ..lattice_quantizer import LatticeQuantizer
from .base import CodingState, TrainingProxy, check_proxy, scale_table_indexes
from .conditional import latent_array, latent_tensor

__all__ = ["LatticeConditional"]


class LatticeConditional(CodingState, nn.Module):
    """Latent vectors quantized to a lattice around their means, coded given a scale
    per element (:mod:`rdlab.coding.lattice_latents`).

    The latent ``(B, M, h, w)`` splits into n-vectors of neighbouring positions
    (:func:`~rdlab.coding.lattice_latents.vector_block`: 2×4 of one channel for E8);
    ``y - μ`` is quantized to the nearest point of the unit-volume lattice; the rate of a
    point is the mass, over its Voronoi cell, of the product of its coordinates'
    Gaussians ``N(0, σ²)``.

    Training (:attr:`quantizer`, a :class:`~rdlab.nn.lattice_quantizer.LatticeQuantizer`):
    cell masses by Monte Carlo over ``training_samples`` random cell samples per vector.
    Coding: :class:`~rdlab.coding.lattice_latents.LatticeLatentCoder` with a stored
    generator and stored quasi-random cell samples (``coding_generator``,
    ``coding_cell_samples``, float64, in ``state_dict()``), set by :meth:`update`; the
    Gaussians are those of the scale table at each element's scale index.

    Args:
        lattice: an :class:`rdlab.lattice.Lattice` of unit volume (e.g.
            ``rdlab.nn.image_model.latent_lattice("E8", M)``).
        scale_table: increasing scales > 0 (default 64 log-spaced from 0.11 to 256);
            training scales are floored at its first entry.
        mc_samples: fixed cell samples of the quantizer (``training_proxy=None`` rates).
        seed: seed of the quantizer's samples.
        training_samples: random cell samples per vector for training rates.

    Shapes: ``y``, ``scales``, ``means``, ``indexes``: ``(B, M, h, w)`` with M a multiple
    of the vectors' channel group and h, w of their block (any 64-aligned image's latent).
    """

    coding_names = ("coding_generator", "coding_cell_samples")

    def __init__(
        self,
        lattice: Any,
        scale_table: Any = None,
        *,
        mc_samples: int = 64,
        seed: int = 0,
        training_samples: int = 32,
    ) -> None:
        super().__init__()
        self.quantizer = LatticeQuantizer(lattice, mc_samples=mc_samples, seed=seed)
        self.scale_table = (
            log_scale_table() if scale_table is None else np.asarray(scale_table, dtype=np.float64)
        )
        self.training_samples = int(training_samples)
        self._coder: LatticeLatentCoder | None = None

    @property
    def lattice(self) -> Any:
        return self.quantizer.lattice

    @property
    def dim(self) -> int:
        """n, the lattice's dimension (elements per vector)."""
        return self.quantizer.dim

    # -- training ----------------------------------------------------------------------
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
            y, scales, means: ``(B, M, h, w)``; ``means`` ``None``: 0.
            training_proxy: ``"noise"`` (dither uniform over the cell), ``"ste"`` (nearest
                point, identity gradient), ``"mixed"`` (the noisy rate, the
                straight-through point) or ``None`` (nearest point, rate with the fixed
                cell samples).

        Returns:
            ``(y_hat, bits)`` shaped like ``y``; a vector's information content (bits)
            is split evenly over its n elements (sum them for the rate).
        """
        check_proxy(training_proxy)
        mu = torch.zeros_like(y) if means is None else means
        residual = to_vectors(y - mu, self.dim)
        sigma = to_vectors(lower_bound(scales, float(self.scale_table[0])), self.dim)
        sigma = sigma.unsqueeze(-2)
        half_log_2pi = 0.5 * math.log(2 * math.pi)

        def log_density(z: torch.Tensor) -> torch.Tensor:
            return -0.5 * (z / sigma) ** 2 - torch.log(sigma) - half_log_2pi

        quantizer = self.quantizer
        if training_proxy in ("noise", "mixed"):
            noisy = quantizer.noise(residual)
            bits = -quantizer.log2_likelihood(noisy, log_density, samples=self.training_samples)
            point = noisy
            if training_proxy == "mixed":
                point = quantizer.quantize(residual, straight_through=True)
        else:
            point = quantizer.quantize(residual, straight_through=training_proxy == "ste")
            samples = None if training_proxy is None else self.training_samples
            bits = -quantizer.log2_likelihood(point, log_density, samples=samples)
        per_element = (bits / self.dim).unsqueeze(-1).expand(*bits.shape, self.dim)
        return from_vectors(point, y.shape) + mu, from_vectors(per_element, y.shape)

    # -- the coder's arrays --------------------------------------------------------------
    def update(self, cell_samples: Any = None, *, seed: int = 0) -> None:
        """Set the coder's arrays: the lattice's generator (float64) and ``cell_samples``
        ((S, n) float64 quasi-uniform samples of the Voronoi cell; default
        :func:`~rdlab.coding.lattice_latents.voronoi_cell_samples` with ``seed``)."""
        lattice = self.lattice
        samples = voronoi_cell_samples(lattice, seed=seed) if cell_samples is None else cell_samples
        self.set_coding_arrays(
            {
                "coding_generator": lattice.generator.numpy().astype(np.float64),
                "coding_cell_samples": np.asarray(samples, dtype=np.float64),
            }
        )

    @property
    def coder(self) -> LatticeLatentCoder:
        """The coder (raises :class:`~rdlab.errors.ModelError` before :meth:`update`)."""
        if self._coder is None:
            raise ModelError(
                "lattice conditional: no coder arrays; call update() or load a state dict "
                "that holds them"
            )
        return self._coder

    def coding_arrays(self) -> dict[str, np.ndarray]:
        if self._coder is None:
            return {}
        return {
            "coding_generator": self._coder.model.generator,
            "coding_cell_samples": self._coder.model.cell_samples,
        }

    def set_coding_arrays(self, arrays: dict[str, np.ndarray] | None) -> None:
        """The coder from :meth:`coding_arrays`' arrays (``None``: none).

        Raises:
            ModelError: missing arrays or a generator that is not the lattice's.
        """
        self._coder = None
        if arrays is None:
            return
        try:
            self._coder = LatticeLatentCoder(
                self.lattice, *(arrays[name] for name in self.coding_names), self.scale_table
            )
        except (KeyError, InputError) as exc:
            raise ModelError(f"lattice conditional: bad coder arrays ({exc})") from None

    # -- coding ------------------------------------------------------------------------
    def scale_indexes(self, scales: Any) -> np.ndarray:
        """Table index of each scale (the smallest table scale >= it), int64 (float
        rule; see :meth:`LocationScaleConditional.scale_indexes`)."""
        return scale_table_indexes(latent_array(scales), self.scale_table)

    @staticmethod
    def _planes(a: np.ndarray) -> np.ndarray:
        """``(B, M, h, w)`` → ``(B·M, h, w)``, the coder's layout (vectors never span
        two images: M is a multiple of their channel group)."""
        if a.ndim != 4:
            raise InputError("y", f"must be (B, M, h, w), got shape {a.shape}")
        return a.reshape(-1, *a.shape[2:])

    def compress(self, y: torch.Tensor, indexes: Any, means: Any = None) -> bytes:
        """Code the lattice points nearest to ``y - means`` with the tables of
        ``indexes`` (int, shape of ``y``); returns the bytes."""
        yy = latent_array(y)
        mu = np.zeros_like(yy) if means is None else latent_array(means)
        return self.coder.encode_latents(
            self._planes(yy), self._planes(np.asarray(indexes)), self._planes(mu)
        )

    def decode_symbols(
        self, data: bytes, indexes: Any, what: str = "lattice latent stream"
    ) -> np.ndarray:
        """The points' integer coefficients (int64, shape of ``indexes``; entry j of a
        vector's coefficients at its j-th element)."""
        idx = np.asarray(indexes)
        return self.coder.decode(data, self._planes(idx), what).reshape(idx.shape)

    def decompress(
        self, data: bytes, indexes: Any, means: Any = None, *, what: str = "lattice latent stream"
    ) -> torch.Tensor:
        """Inverse of :meth:`compress`: the lattice points plus ``means``, float32 (on
        the device of ``means``).

        Raises:
            CorruptStreamError: not such a stream; :class:`~rdlab.errors.StreamEndError`
                when it does not end with the last vector.
        """
        k = self.decode_symbols(data, indexes, what)
        mu = np.zeros(k.shape) if means is None else latent_array(means)
        y_hat = self.coder.dequantize(self._planes(k), self._planes(mu)).reshape(k.shape)
        return latent_tensor(y_hat, means)
