"""Entropy coding of lattice points: an autoregressive model over lattice coefficients,
built from the Monte-Carlo cell integral of a factorized latent density.

Setting (lattice transform coding). A latent vector is quantized to a point
``x = k @ G + shift`` of a lattice with an **upper-triangular** generator ``G`` (rows are
basis vectors, so coordinate ``x_j`` depends on ``k_0..k_j`` only), ``k`` integer. Its
probability is the latent density's mass over the point's Voronoi cell ``V``,

    P(k) = ∫_V p(x + v) dv ≈ |V| · (1/M) Σ_m Π_j p_j(x_j + u_mj),

with ``M`` fixed points ``u_m`` (quasi-)uniform over ``V`` and ``p = Π_j p_j`` factorized.
That estimate is a rate, not a code. To code ``k`` we factorize it coordinate by
coordinate. Summing the estimate over the completions ``k_{>j}`` is a Riemann sum of the
trailing densities over a lattice of covolume ``Π_{i>j} G_ii`` (accurate to ~e^{-2π²σ²/G²}
by Poisson summation when the density is smooth on the cell scale), so

    P(k_{≤j}) ≈ Π_{i≤j} G_ii · (1/M) Σ_m Π_{i≤j} p_i(x_i + u_mi),
    Q(k_j = a | k_{<j}) ∝ Σ_m w_m · p_j(x_j(a) + u_mj),   w_m = Π_{i<j} p_i(x_i + u_mi),

normalized over the candidates ``a``. The product of these conditionals telescopes to the
Monte-Carlo estimate (up to the Riemann-sum error and the table quantization), so the
real bitstream comes within a small fraction of a bit of the estimated rate. The
conditionals use the *joint* weights ``w_m`` of each cell sample, never a product of
per-coordinate averages.

Determinism: both sides must build bit-identical tables. Everything here is float64
element-wise arithmetic in a fixed order (no BLAS, no reductions whose order could change,
exponentials from :mod:`rdlab.detmath`); densities are given as :class:`TabulatedDensity`
(values on a uniform grid, linearly interpolated), built deterministically from the
model's parameters; the cell samples are stored with the model.

Per coordinate the candidates cover the density's tabulated support; a coefficient
outside (a latent far in the tails) is sent as an escape symbol (probability 2^-16
of the table) followed by its offset with a universal code, so any int64 round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import detmath
from .._arrays import float_array, integer_array
from ..errors import InputError
from .quantize import PRECISION, quantize_probabilities
from .stream import SymbolDecoder, SymbolEncoder

__all__ = [
    "LatticePointModel",
    "TabulatedDensity",
    "decode_lattice_points",
    "encode_lattice_points",
    "lattice_point_bits",
]

#: log-density used outside the tabulated support (keeps the weights finite)
LOG_FLOOR = -1000.0
_ESCAPE_PROBABILITY = 2.0**-16


@dataclass(frozen=True)
class TabulatedDensity:
    """Densities of ``C`` channels on uniform grids: channel ``c`` has values
    ``density[c, i]`` at ``start[c] + i·step[c]``, i = 0..T−1, linear interpolation in
    between, zero outside. ``log_density`` is the interpolated table of log values
    (``LOG_FLOOR`` where the density is zero). Units: density per unit of the latent."""

    start: np.ndarray
    step: np.ndarray
    density: np.ndarray
    log_density: np.ndarray

    @classmethod
    def from_values(cls, start: Any, step: Any, density: Any) -> TabulatedDensity:
        d = float_array(density, "density")
        if d.ndim != 2 or d.shape[1] < 2 or (d < 0).any():
            raise InputError("density", "must be a non-negative (channels, T >= 2) array")
        s0 = float_array(start, "start").reshape(-1)
        h = float_array(step, "step").reshape(-1)
        if s0.shape != (d.shape[0],) or h.shape != (d.shape[0],) or (h <= 0).any():
            raise InputError("step", "start and step need one value per channel, step > 0")
        with np.errstate(divide="ignore"):
            logd = np.where(d > 0, detmath.log(np.where(d > 0, d, 1.0)), LOG_FLOOR)
        return cls(s0, h, d, np.maximum(logd, LOG_FLOOR))

    @property
    def channels(self) -> int:
        return int(self.density.shape[0])

    @property
    def lower(self) -> np.ndarray:
        return self.start

    @property
    def upper(self) -> np.ndarray:
        return self.start + (self.density.shape[1] - 1) * self.step

    def _lerp(self, table: np.ndarray, channel: np.ndarray, t: np.ndarray, outside: float):
        pos = (t - self.start[channel]) / self.step[channel]
        size = table.shape[1]
        inside = (pos >= 0) & (pos <= size - 1)
        pos = np.where(inside, pos, 0.0)
        i = np.minimum(np.floor(pos).astype(np.int64), size - 2)
        frac = pos - i
        v = table[channel, i] * (1.0 - frac) + table[channel, i + 1] * frac
        return np.where(inside, v, outside)

    def pdf(self, channel: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Density of channel ``channel`` (broadcast with ``t``) at ``t``."""
        return self._lerp(self.density, channel, t, 0.0)

    def log_pdf(self, channel: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Interpolated log density (nats), ``LOG_FLOOR`` outside the support."""
        return self._lerp(self.log_density, channel, t, LOG_FLOOR)


@dataclass(frozen=True)
class LatticePointModel:
    """What encoder and decoder share: the lattice generator (n, n) upper triangular, the
    cell samples (M, n) uniform over the Voronoi cell of the origin, the tabulated
    densities, and the channel of each coordinate of each coded vector ((n,) or (N, n))."""

    generator: np.ndarray
    cell_samples: np.ndarray
    density: TabulatedDensity

    def __post_init__(self) -> None:
        g = float_array(self.generator, "generator")
        n = g.shape[0] if g.ndim == 2 else 0
        if g.ndim != 2 or g.shape != (n, n) or n == 0:
            raise InputError("generator", f"must be a square matrix, got shape {g.shape}")
        if np.any(np.tril(g, -1) != 0) or np.any(np.diag(g) <= 0):
            raise InputError("generator", "must be upper triangular with a positive diagonal")
        u = float_array(self.cell_samples, "cell_samples")
        if u.ndim != 2 or u.shape[1] != n or u.shape[0] == 0:
            raise InputError("cell_samples", f"must have shape (M, {n}), got {u.shape}")
        object.__setattr__(self, "generator", g)
        object.__setattr__(self, "cell_samples", u)

    @property
    def dim(self) -> int:
        return int(self.generator.shape[0])


def _inputs(
    model: LatticePointModel, count: int, channels: Any, shift: Any
) -> tuple[np.ndarray, np.ndarray]:
    n = model.dim
    ch = integer_array(channels, "channels")
    ch = np.broadcast_to(ch, (count, n)) if ch.ndim <= 1 else ch
    if ch.shape != (count, n):
        raise InputError("channels", f"must broadcast to ({count}, {n}), got {ch.shape}")
    if ch.size and (ch.min() < 0 or ch.max() >= model.density.channels):
        raise InputError("channels", f"must lie in [0, {model.density.channels})")
    if shift is None:
        sh = np.zeros((count, n))
    else:
        sh = float_array(shift, "shift")
        if sh.shape != (count, n) or not np.isfinite(sh).all():
            raise InputError("shift", f"must be a finite ({count}, {n}) array")
    return np.ascontiguousarray(ch, dtype=np.int64), sh


class _Conditionals:
    """Walks the coordinates in order, producing each coordinate's integer tables."""

    def __init__(self, model: LatticePointModel, channels: np.ndarray, shift: np.ndarray):
        self.model = model
        self.channels = channels
        self.shift = shift
        count = channels.shape[0]
        self.logw = np.zeros((count, model.cell_samples.shape[0]))
        self.k = np.zeros((count, model.dim), dtype=np.int64)
        dens = model.density
        # candidate window per coordinate: the widest support among the channels used
        g = model.generator
        self.width = np.zeros(model.dim, dtype=np.int64)
        for j in range(model.dim):
            used = np.unique(channels[:, j]) if count else np.zeros(1, np.int64)
            span = float(np.max(dens.upper[used] - dens.lower[used]))
            self.width[j] = int(np.ceil(span / g[j, j])) + 2

    def base(self, j: int) -> np.ndarray:
        g = self.model.generator
        b = self.shift[:, j].copy()
        for i in range(j):  # fixed order: bit-identical everywhere
            b = b + self.k[:, i].astype(np.float64) * g[i, j]
        return b

    def tables(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(first candidate a0 (N,), integer frequencies (N, A + 1)) for coordinate j; the
        last symbol is the escape."""
        model, dens = self.model, self.model.density
        g = model.generator[j, j]
        ch = self.channels[:, j]
        base = self.base(j)
        a0 = np.floor((dens.lower[ch] - base) / g).astype(np.int64)
        width = int(self.width[j])
        count = base.shape[0]
        # w_m = exp(logw_m − max_m logw_m), the joint weights of the cell samples
        top = self.logw[:, 0].copy()
        for m in range(1, self.logw.shape[1]):
            top = np.maximum(top, self.logw[:, m])
        w = detmath.exp(self.logw - top[:, None])
        pos = base[:, None] + (a0[:, None] + np.arange(width)[None, :]) * g
        score = np.zeros((count, width))
        chm = ch[:, None]
        for m in range(model.cell_samples.shape[0]):
            score = score + w[:, m : m + 1] * dens.pdf(chm, pos + model.cell_samples[m, j])
        total = np.zeros(count)
        for a in range(width):
            total = total + score[:, a]
        empty = total <= 0
        score = np.where(empty[:, None], 1.0, score)
        total = np.where(empty, float(width), total)
        probs = np.empty((count, width + 1))
        probs[:, :width] = score / total[:, None] * (1.0 - _ESCAPE_PROBABILITY)
        probs[:, width] = _ESCAPE_PROBABILITY
        return a0, quantize_probabilities(probs)

    def advance(self, j: int, kj: np.ndarray) -> None:
        """Fix coordinate j's coefficients and fold them into the joint weights."""
        self.k[:, j] = kj
        model = self.model
        x = self.base(j) + kj.astype(np.float64) * model.generator[j, j]
        ch = self.channels[:, j][:, None]
        u = model.cell_samples[:, j][None, :]
        self.logw = self.logw + model.density.log_pdf(ch, x[:, None] + u)


def _symbols(kj: np.ndarray, a0: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Table symbols of coefficients ``kj`` (candidate index, or ``width`` = escape) and
    the escape mask."""
    offset = kj - a0
    escaped = (offset < 0) | (offset >= width)
    return np.where(escaped, width, offset), escaped


def _zigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, 2 * v.astype(np.uint64), 2 * (-(v + 1)).astype(np.uint64) + 1)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    u = u.astype(np.uint64)
    half = (u >> np.uint64(1)).astype(np.int64)
    return np.where((u & np.uint64(1)) == 0, half, -half - 1)


def encode_lattice_points(
    coefficients: Any,
    model: LatticePointModel,
    channels: Any = 0,
    shift: Any = None,
    encoder: SymbolEncoder | None = None,
) -> bytes:
    """Code lattice coefficients ``k`` (N, n) int64 of the points ``k @ G + shift``.

    ``channels``: density channel of each coordinate, broadcast to (N, n); ``shift``:
    (N, n) float64 offset of the points in the latent space (minus the dither for
    subtractive dithering), default 0. Appends to ``encoder`` if given (and returns b"").
    """
    k = integer_array(coefficients, "coefficients")
    if k.ndim != 2 or k.shape[1] != model.dim:
        raise InputError("coefficients", f"must have shape (N, {model.dim}), got {k.shape}")
    ch, sh = _inputs(model, k.shape[0], channels, shift)
    enc = SymbolEncoder() if encoder is None else encoder
    walk = _Conditionals(model, ch, sh)
    for j in range(model.dim):
        a0, freq = walk.tables(j)
        width = freq.shape[1] - 1
        sym, escaped = _symbols(k[:, j], a0, width)
        enc.encode_categorical(sym, freq)
        if escaped.any():
            enc.encode_nonnegative(_zigzag(k[escaped, j] - a0[escaped]))
        walk.advance(j, k[:, j])
    return enc.to_bytes() if encoder is None else b""


def decode_lattice_points(
    data: bytes | SymbolDecoder,
    count: int,
    model: LatticePointModel,
    channels: Any = 0,
    shift: Any = None,
) -> np.ndarray:
    """Inverse of :func:`encode_lattice_points`: (count, n) int64 coefficients."""
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise InputError("count", f"must be a non-negative integer, got {count!r}")
    ch, sh = _inputs(model, int(count), channels, shift)
    dec = data if isinstance(data, SymbolDecoder) else SymbolDecoder(data)
    walk = _Conditionals(model, ch, sh)
    for j in range(model.dim):
        a0, freq = walk.tables(j)
        width = freq.shape[1] - 1
        sym = dec.decode_categorical(freq).astype(np.int64)
        kj = a0 + sym
        escaped = sym == width
        if escaped.any():
            kj[escaped] = a0[escaped] + _unzigzag(dec.decode_nonnegative(int(escaped.sum())))
        walk.advance(j, kj)
    return walk.k


def lattice_point_bits(
    coefficients: Any, model: LatticePointModel, channels: Any = 0, shift: Any = None
) -> np.ndarray:
    """Information content (bits) of each coded vector under the integer tables that
    :func:`encode_lattice_points` uses (escape payloads excluded): shape (N,)."""
    k = integer_array(coefficients, "coefficients")
    if k.ndim != 2 or k.shape[1] != model.dim:
        raise InputError("coefficients", f"must have shape (N, {model.dim}), got {k.shape}")
    ch, sh = _inputs(model, k.shape[0], channels, shift)
    walk = _Conditionals(model, ch, sh)
    bits = np.zeros(k.shape[0])
    rows = np.arange(k.shape[0])
    for j in range(model.dim):
        a0, freq = walk.tables(j)
        width = freq.shape[1] - 1
        sym, _escaped = _symbols(k[:, j], a0, width)
        bits += PRECISION - np.log2(freq[rows, sym].astype(np.float64))
        walk.advance(j, k[:, j])
    return bits
