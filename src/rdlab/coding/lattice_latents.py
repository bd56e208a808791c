"""Lattice-quantized latents of a hyperprior codec, coded with their indexed Gaussians.

The scalar latent coder (:class:`~rdlab.coding.conditional.LocationScaleCoder`) rounds
every residual ``y - μ`` to an integer. This coder groups the latent into n-dimensional
vectors (:func:`vector_block`: a block of ``a × b`` neighbouring positions of ``g``
adjacent channels, ``g·a·b = n``; for E8 a 2×4 block of one channel), quantizes each
residual vector to the nearest point ``k @ G`` of a unit-volume lattice (E8, D4, BW16,
Leech, ...), and codes the integer coefficients ``k`` with
:mod:`rdlab.coding.lattice_points`: the probability of a point is the mass, over its
Voronoi cell, of the product of the coordinates' Gaussians ``N(0, σ_i²)``, where ``σ_i`` is
the scale-table entry selected by the element's scale index (the same integer indexes
that select the scalar tables, so they agree exactly between encoder and decoder).

Why spatial blocks, not groups of channels: a lattice spreads its quantization error
evenly over a vector's coordinates, which suits coordinates of similar variance. The
channels at one position mix active ones (σ of several units) with nearly inactive
ones (σ ≈ 0.1), for which rounding to zero costs almost no distortion; E8 over 8 such
channels lost to scalar rounding at every rate (default model, photo ``chelsea``: 0.24
against 0.22 bpp and 1.0 dB less at quality 2). Scales are much more alike within one
channel's neighbourhood, and E8 over 2×4 blocks edges out rounding with the same weights
(−2.6 % BD-rate on the 12 evaluation photos; see the README).

Units: residuals in latent units (a unit-volume cell has the volume of the scalar
coder's unit bin, so both coders spend the same rate at high resolution and the lattice
gains its granular gain in distortion). Shapes: latents ``(C, h, w)`` that split into
the blocks of :func:`vector_block` (any latent of a 64-aligned image does).

Cell masses are quasi-Monte-Carlo sums over stored samples of the Voronoi cell. A
Gaussian much narrower than the cell varies strongly inside it, and there 64 samples
misjudge the masses (the code stays valid, but long: on a photo at the lowest rate,
64 samples spent 1.3–1.8× the bits of 1024, channel-grouped E8). So vectors whose
scales are all at most :data:`FINE_MAX_SCALE` are coded with all the stored samples
(128 by default), the others with the first :data:`COARSE_SAMPLES` (their densities
are smooth over a cell); small-scale vectors have narrow candidate windows, so this
costs little time.

Work is bounded by coding the vectors in **classes of their largest scale index**: the
candidate window of a coordinate spans the widest density among the vectors coded
together, so vectors with small scales (most of them) are never coded with the window of
a rare large one. Classes are coded in increasing order, vectors in the order of
:func:`to_vectors` within a class, in chunks of bounded memory; the decoder knows the indexes and
rebuilds the same classes. Determinism: the densities are tabulated from the
:mod:`rdlab.detmath` scale table with :mod:`rdlab.detmath` exponentials, and the
lattice-point coder uses element-wise float64 only, so the tables are bit-identical on
every machine; the nearest-point search runs at the encoder only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .. import detmath
from .._arrays import float_array, integer_array, same_shape
from ..errors import CorruptStreamError, InputError
from .lattice_points import (
    LatticePointModel,
    TabulatedDensity,
    decode_lattice_points,
    encode_lattice_points,
)
from .stream import SymbolDecoder, SymbolEncoder
from .tables import log_scale_table

__all__ = [
    "LatticeLatentCoder",
    "from_vectors",
    "gaussian_density_table",
    "to_vectors",
    "vector_block",
    "voronoi_cell_samples",
]

#: half-width of a tabulated Gaussian: this many standard deviations, plus the largest
#: coordinate of a cell sample (so a cell that reaches into the density is among the
#: candidates of the point coder)
TAIL_SIGMAS = 6.0
#: cell samples stored with a model (a scrambled Sobol sequence reduced to the cell)
FINE_SAMPLES = 128
#: samples used for vectors with a scale above FINE_MAX_SCALE (the first ones stored)
COARSE_SAMPLES = 64
#: vectors whose scales are all at most this (latent units) use every stored sample
FINE_MAX_SCALE = 1.0
#: points per tabulated density (linear interpolation between them)
TABLE_POINTS = 1025
#: vectors per call of the point coder are limited so that vectors x candidates stays
#: below this (memory of the candidate tables)
_CHUNK_ELEMENTS = 1 << 21
#: scale indexes per class of vectors
_CLASS_WIDTH = 2


def vector_block(n: int) -> tuple[int, int, int]:
    """``(g, a, b)``: an n-vector is a block of ``a × b`` positions (``a, b`` dividing 4,
    so any latent of a 64-aligned image splits into blocks) of ``g`` adjacent channels,
    ``a·b`` the largest of 16, 8, 4, 2, 1 that divides n: 1×2 for A2, 2×2 for D4, 2×4 for
    E8, 4×4 for BW16, 3 channels × 2×4 for Leech."""
    for a, b in ((4, 4), (2, 4), (2, 2), (1, 2), (1, 1)):
        if n % (a * b) == 0:
            return n // (a * b), a, b
    raise AssertionError("unreachable")


def _block_shape(shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    *lead, c, h, w = shape
    g, a, b = vector_block(n)
    if c % g or h % a or w % b:
        raise InputError(
            "y",
            f"a latent of shape (C, h, w) = {(c, h, w)} does not split into {n}-vectors "
            f"of {g} channel(s) x {a}x{b} positions",
        )
    return (*lead, c // g, g, h // a, a, w // b, b)


def to_vectors(y: Any, n: int) -> Any:
    """``(..., C, h, w)`` → ``(..., C/g · h/a · w/b, n)`` (numpy array or torch tensor):
    the n-vectors of :func:`vector_block`, ordered by channel group, block row, block
    column; a vector's coordinates ordered by channel, row, column within the block."""
    shape = _block_shape(tuple(y.shape), n)
    lead = len(shape) - 6
    order = (*range(lead), lead, lead + 2, lead + 4, lead + 1, lead + 3, lead + 5)
    blocks = y.reshape(shape)
    moved = blocks.permute(order) if isinstance(y, torch.Tensor) else blocks.transpose(order)
    return moved.reshape(*shape[:lead], -1, n)


def from_vectors(v: Any, shape: tuple[int, ...]) -> Any:
    """Inverse of :func:`to_vectors` for a latent of ``shape`` ``(..., C, h, w)``."""
    n = int(v.shape[-1])
    full = _block_shape(tuple(shape), n)
    lead = len(full) - 6
    grouped = (*full[:lead], full[lead], full[lead + 2], full[lead + 4])
    within = (full[lead + 1], full[lead + 3], full[lead + 5])
    blocks = v.reshape(*grouped, *within)
    order = (*range(lead), lead, lead + 3, lead + 1, lead + 4, lead + 2, lead + 5)
    moved = blocks.permute(order) if isinstance(v, torch.Tensor) else blocks.transpose(order)
    return moved.reshape(tuple(shape))


def gaussian_density_table(scales: Any, margin: float) -> TabulatedDensity:
    """Tabulated densities of ``N(0, s²)`` for each scale ``s`` (float64, > 0), on
    ``[-(6s + margin), 6s + margin]`` with :data:`TABLE_POINTS` points (density per
    latent unit)."""
    s = float_array(scales, "scales").reshape(-1)
    if s.size == 0 or (s <= 0).any():
        raise InputError("scales", "must be positive")
    half = TAIL_SIGMAS * s + float(margin)
    step = 2.0 * half / (TABLE_POINTS - 1)
    t = -half[:, None] + step[:, None] * np.arange(TABLE_POINTS)[None, :]
    z = t / s[:, None]
    norm = 1.0 / (s * math.sqrt(2.0 * math.pi))
    density = norm[:, None] * detmath.exp(-0.5 * (z * z))
    return TabulatedDensity.from_values(-half, step, density)


def voronoi_cell_samples(lattice: Any, count: int = FINE_SAMPLES, seed: int = 0) -> np.ndarray:
    """(count, n) float64 quasi-uniform samples of the Voronoi cell of the origin: a
    scrambled Sobol sequence over the fundamental parallelepiped (seeded), each point
    reduced to the cell by subtracting its nearest lattice point. Any prefix of a power
    of two is itself a balanced set (the coarse samples are the first 64)."""
    from scipy.stats import qmc

    g = lattice.generator.to(torch.float64)
    t = torch.from_numpy(qmc.Sobol(d=lattice.dim, scramble=True, seed=seed).random(count))
    u = t @ g
    return (u - lattice.nearest(u)).numpy()


class LatticeLatentCoder:
    """Codes latents ``y`` (C, h, w) as lattice points around the means, with the
    Gaussian of each element's scale index.

    Args:
        lattice: an :class:`rdlab.lattice.Lattice` scaled to unit volume (its generator
            is upper triangular); used by the encoder's nearest-point search.
        generator: the generator (n, n) float64 that both sides code and reconstruct
            with (stored in the model file, so it cannot drift with the library's
            arithmetic; it must equal the lattice's to 1e-12).
        cell_samples: (S, n) float64 quasi-uniform samples of the Voronoi cell of the
            origin (stored in the model file).
        scales: the scale table (default: 64 log-spaced scales 0.11 .. 256).
    """

    def __init__(self, lattice: Any, generator: Any, cell_samples: Any, scales: Any = None) -> None:
        self.lattice = lattice
        self.scales = log_scale_table() if scales is None else float_array(scales, "scales")
        samples = float_array(cell_samples, "cell_samples")
        self.margin = float(np.max(np.abs(samples))) if samples.size else 0.0
        self.model = LatticePointModel(
            float_array(generator, "generator"),
            samples,
            gaussian_density_table(self.scales, self.margin),
        )
        self.coarse = LatticePointModel(
            self.model.generator, samples[:COARSE_SAMPLES], self.model.density
        )
        self.fine_max_index = int(np.searchsorted(self.scales, FINE_MAX_SCALE, side="right")) - 1
        self.dim = self.model.dim
        library = lattice.generator.numpy()
        if library.shape != self.model.generator.shape or not np.allclose(
            self.model.generator, library, rtol=1e-12, atol=0.0
        ):
            raise InputError("generator", f"is not the generator of {lattice.name}")
        self._generator = torch.from_numpy(self.model.generator)

    # -- layout -----------------------------------------------------------------------
    def _check(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 3:
            raise InputError("y", f"must be (C, h, w), got {shape}")
        _block_shape(shape, self.dim)

    def to_vectors(self, a: np.ndarray) -> np.ndarray:
        """(C, h, w) → (vectors, n): :func:`to_vectors` (a contiguous copy)."""
        return np.ascontiguousarray(to_vectors(a, self.dim))

    def from_vectors(self, v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Inverse of :meth:`to_vectors`."""
        return np.ascontiguousarray(from_vectors(v, shape))

    def _classes(self, index_vectors: np.ndarray) -> list[tuple[np.ndarray, LatticePointModel]]:
        """Row numbers of the vectors of each class (largest scale index // _CLASS_WIDTH),
        each in increasing order, classes in increasing order, chunked to bounded memory;
        with the point model of the class (all samples or the coarse ones)."""
        top = index_vectors.max(axis=1) if index_vectors.size else np.zeros(0, np.int64)
        cls = top // _CLASS_WIDTH
        out = []
        for c in np.unique(cls):
            rows = np.nonzero(cls == c)[0]
            s = float(self.scales[min(self.scales.size - 1, (int(c) + 1) * _CLASS_WIDTH - 1)])
            span = 2.0 * (TAIL_SIGMAS * s + self.margin)
            width = span / float(np.min(np.diag(self.model.generator)))
            fine = int(index_vectors[rows].max()) <= self.fine_max_index
            model = self.model if fine else self.coarse
            per = max(1, int(_CHUNK_ELEMENTS * COARSE_SAMPLES // model.cell_samples.shape[0]))
            per = max(1, int(per // (width + 2)))
            out.extend((rows[i : i + per], model) for i in range(0, rows.size, per))
        return out

    def _index_vectors(self, indexes: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
        idx = integer_array(indexes, "indexes")
        self._check(idx.shape)
        if shape is not None and idx.shape != shape:
            raise InputError("indexes", f"must have shape {shape}, got {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.scales.size):
            raise InputError("indexes", f"must lie in [0, {self.scales.size})")
        return self.to_vectors(idx)

    # -- quantization ---------------------------------------------------------------------
    def quantize(self, y: Any, means: Any) -> np.ndarray:
        """Coefficients k (C, h, w) int64 of the nearest lattice points to ``y - means``
        (vector layout of :meth:`to_vectors`: entry j of a vector's k is stored at its
        j-th channel)."""
        yy = float_array(y, "y")
        mu = float_array(means, "means")
        same_shape(yy, "y", mu, "means")
        self._check(yy.shape)
        v = torch.from_numpy(self.to_vectors(yy - mu))
        k = self.lattice.coefficients(self.lattice.nearest(v)).numpy()
        return self.from_vectors(k, yy.shape)

    def dequantize(self, coefficients: Any, means: Any) -> np.ndarray:
        """``k @ G + means`` (float64, (C, h, w)), element-wise in a fixed order."""
        k = integer_array(coefficients, "coefficients")
        mu = float_array(means, "means")
        same_shape(k, "coefficients", mu, "means")
        self._check(k.shape)
        kv = torch.from_numpy(self.to_vectors(k)).to(torch.float64)
        pts = self.lattice._points_flat(kv, self._generator).numpy()  # the stored generator
        return self.from_vectors(pts, k.shape) + mu

    # -- coding ---------------------------------------------------------------------------
    def encode(self, coefficients: Any, indexes: Any) -> bytes:
        """Coefficients (C, h, w) with their scale indexes (same shape) to bytes."""
        k = integer_array(coefficients, "coefficients")
        self._check(k.shape)
        iv = self._index_vectors(indexes, k.shape)
        kv = self.to_vectors(k)
        encoder = SymbolEncoder()
        for rows, model in self._classes(iv):
            encode_lattice_points(kv[rows], model, iv[rows], encoder=encoder)
        return encoder.to_bytes()

    def decode(self, data: bytes, indexes: Any, what: str = "lattice latent stream") -> np.ndarray:
        """Inverse of :meth:`encode`: int64 coefficients shaped like ``indexes``.

        Raises:
            CorruptStreamError: ``data`` is not such a stream (a coefficient beyond
                ``2**40``, ...); its subclass :class:`~rdlab.errors.StreamEndError`
                (naming ``what``) when the stream does not end with the last vector.
        """
        idx = integer_array(indexes, "indexes")
        iv = self._index_vectors(idx)
        decoder = SymbolDecoder(data)
        kv = np.zeros(iv.shape, dtype=np.int64)
        for rows, model in self._classes(iv):
            kv[rows] = decode_lattice_points(decoder, rows.size, model, iv[rows])
        decoder.finish(what)
        if np.abs(kv).max(initial=0) > 2**40:
            raise CorruptStreamError("lattice latents: coefficient out of range")
        return self.from_vectors(kv, idx.shape)

    def encode_latents(self, y: Any, indexes: Any, means: Any) -> bytes:
        """``encode(quantize(y, means), indexes)``."""
        return self.encode(self.quantize(y, means), indexes)

    def decode_latents(self, data: bytes, indexes: Any, means: Any) -> np.ndarray:
        """Inverse of :meth:`encode_latents`: the reconstruction ``ŷ`` (float64)."""
        return self.dequantize(self.decode(data, indexes), means)
