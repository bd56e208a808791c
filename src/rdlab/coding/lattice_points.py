"""Entropy coding of lattice points: an autoregressive model over lattice coefficients,
built from the Monte-Carlo cell integral of a factorized latent density.

Setting (lattice transform coding). A latent vector is quantized to a point
``x = k @ G + shift`` of a lattice with an **upper-triangular** generator ``G`` (rows are
basis vectors, so coordinate ``x_j`` depends on ``k_0..k_j`` only), ``k`` integer. Its
probability is the latent density's mass over the point's Voronoi cell ``V``,

    P(k) = ∫_V p(x + v) dv ≈ |V| · (1/M) Σ_m Π_j p_j(x_j + u_mj),

with ``M`` fixed points ``u_m`` (quasi-)uniform over ``V`` and ``p = Π_j p_j`` factorized.
That estimate is a rate, not a code. To code ``k`` we factorize it coordinate by
coordinate: the exact marginal of a prefix is

    P(k_{≤j}) = Π_i G_ii · (1/M) Σ_m w_m(k_{≤j}) · S_m(k_{≤j}),
    w_m = Π_{i≤j} p_i(x_i + u_mi),   S_m = Σ_{k_{>j}} Π_{i>j} p_i(x_i + u_mi),

and ``Q(k_j = a | k_{<j}) ∝ Σ_m w_m(k_{<j}, a) · S_m(k_{<j}, a)``, whose product telescopes
to the Monte-Carlo estimate (divided by its total mass, ≈ 1). The mass ``S_m`` of the
completions is the sum of a product density over a coset of the trailing lattice
``Λ_{>j}`` (rows j+1.. of ``G``). When the cells are fine against the density it is the
Riemann constant 1/Π_{i>j} G_ii (to ~e^{-2π²σ²/G²}, Poisson summation); at low rate it is
far from constant, and the code would run above the estimate. So it is computed:
``Λ_{>j}`` contains the axis lattice ``A = ⊕ q_i G_ii Z e_i`` (``q_i`` the least q with
``q·G_ii·e_i ∈ Λ``: 2 for most coordinates of D4, E8, 4 or 8 for BW16, Leech), whose
cosets are ``Σ_i ρ_i b_i`` with residues ``0 ≤ ρ_i < q_i``, and over a coset of ``A`` the
product density sums to the product of the densities periodized with periods
``P_i = q_i G_ii``:

    S_m = Σ_ρ Π_{i>j} T_i(x_i + r(ρ)_i + u_mi),   T_i(t) = Σ_h p_i(t + h·P_i).

The sum over the residues is a dynamic programme whose states are the offsets (modulo
the periods) that the residues chosen so far add to the later coordinates; equal states
merge (2 states for E8, up to a few dozen for BW16 and Leech). ``S_m`` depends on ``a``
only through ``a mod q_j``, so it is computed once per residue. Exact within a window of
coordinates j+1..hi chosen per coordinate (structure only, from ``G``) so that the DP
stays within ``LOOKAHEAD_BUDGET`` transitions: the whole tail for A2, D4, E8; for BW16
and Leech the coordinates beyond the window count as the Riemann constant. Coordinates
whose densities' Riemann sums at their spacing are constant (to ``FLAT_TOLERANCE``), from
the last non-flat one on, are left out; at high rate that is all of them and the tables
are those without lookahead (LTC format version 1, still available with
``lookahead=False``). The conditionals use the *joint* weights ``w_m`` of each cell
sample, never a product of per-coordinate averages.

Determinism: both sides must build bit-identical tables. Everything here is float64
element-wise arithmetic in a fixed order (no BLAS, no reductions whose order could change,
exponentials from :mod:`rdlab.detmath`); densities are given as :class:`TabulatedDensity`
(values on a uniform grid, linearly interpolated), built deterministically from the
model's parameters; the cell samples are stored with the model. The periodized tables
``T_i`` are sums of the density table in a fixed order, on grids fixed by the model;
the DP structure depends on ``G`` only.

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


def _gather(table: np.ndarray, row: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``table[row, i]`` and ``table[row, i + 1]`` (broadcast), by flat index."""
    idx = row * table.shape[1] + i
    flat = table.reshape(-1)
    return np.take(flat, idx), np.take(flat, idx + 1)


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
        left, right = _gather(table, channel, i)
        v = left * (1.0 - frac) + right * frac
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


#: lookahead work per coordinate: at most this many DP transitions (state × residue)
LOOKAHEAD_BUDGET = 128
#: a coordinate whose density's Riemann sum at its spacing is constant to this relative
#: deviation is "fine": the completions beyond it need no lookahead
FLAT_TOLERANCE = 1e-4
_MAX_RESIDUES = 64
_PERIOD_POINTS = (256, 8192)
_DP_ELEMENTS = 2**18


def _residue_orders(g: np.ndarray) -> np.ndarray:
    """q_l: the least q >= 1 with q·G_ll·e_l in the lattice (0 when none up to 64).

    The coefficients of the axis vector G_ll·e_l are found by back substitution; q is the
    least multiple making them integers (within 1e-7)."""
    n = g.shape[0]
    q = np.zeros(n, dtype=np.int64)
    for ell in range(n):
        k = np.zeros(n)
        k[ell] = 1.0
        for i in range(ell + 1, n):
            acc = 0.0
            for t in range(ell, i):
                acc += k[t] * g[t, i]
            k[i] = -acc / g[i, i]
        for cand in range(1, _MAX_RESIDUES + 1):
            v = cand * k
            if np.all(np.abs(v - np.rint(v)) < 1e-7):
                q[ell] = cand
                break
    return q


@dataclass(frozen=True)
class _Level:
    """One coordinate ``coord`` of a lookahead window: its residue phases (offsets in
    [0, period)) and, per state and residue, (phase index, next state index)."""

    coord: int
    phases: tuple[float, ...]
    moves: tuple[tuple[tuple[int, int], ...], ...]


@dataclass(frozen=True)
class _Plan:
    """Exact sum over the completions of coordinates j+1..hi of a prefix: a dynamic
    programme over the residues of those coefficients (see :class:`_Conditionals`)."""

    levels: tuple[_Level, ...]
    start: tuple[int, ...]  # state at level j+1 of each residue of k_j
    cost: int


def _reduce(values: tuple[float, ...], periods: tuple[float, ...]) -> tuple[float, ...]:
    out = []
    for v, p in zip(values, periods, strict=True):
        r = v - p * np.floor(v / p)
        out.append(0.0 if r >= p * (1.0 - 1e-12) else float(r))
    return tuple(out)


def _key(values: tuple[float, ...], periods: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(v / p * 1e9) % 1_000_000_000 for v, p in zip(values, periods, strict=True))


def _plan(g: np.ndarray, q: np.ndarray, period: np.ndarray, j: int, hi: int) -> _Plan:
    """The residue DP over coordinates j+1..hi (inclusive) for coordinate j."""
    per = tuple(float(p) for p in period)

    def intern(table: dict, order: list, state: tuple[float, ...], coords: slice) -> int:
        key = _key(state, per[coords])
        if key not in table:
            table[key] = len(order)
            order.append(state)
        return table[key]

    table: dict = {}
    states: list = []
    start = tuple(
        intern(
            table,
            states,
            _reduce(tuple(float(r * g[j, t]) for t in range(j + 1, hi + 1)), per[j + 1 : hi + 1]),
            slice(j + 1, hi + 1),
        )
        for r in range(int(q[j]))
    )
    levels = []
    cost = 0
    for i in range(j + 1, hi + 1):
        ptable: dict = {}
        phases: list = []
        ntable: dict = {}
        nstates: list = []
        moves = []
        for s in states:
            row = []
            for r in range(int(q[i])):
                ph = _reduce((s[0] + r * float(g[i, i]),), (per[i],))
                pi = intern(ptable, phases, ph, slice(i, i + 1))
                nxt = _reduce(
                    tuple(s[t - i] + r * float(g[i, t]) for t in range(i + 1, hi + 1)),
                    per[i + 1 : hi + 1],
                )
                row.append((pi, intern(ntable, nstates, nxt, slice(i + 1, hi + 1))))
            moves.append(tuple(row))
        cost += len(states) * int(q[i])
        levels.append(_Level(i, tuple(p[0] for p in phases), tuple(moves)))
        states = nstates
    return _Plan(tuple(levels), start, cost)


_PLANS: dict = {}


def _window_plan(g: np.ndarray, q: np.ndarray, period: np.ndarray, j: int, limit: int):
    """The widest lookahead window j+1..hi (hi <= limit) within the budget, or None."""
    key = (g.tobytes(), j, limit)
    if key not in _PLANS:
        best = None
        for hi in range(j + 1, limit + 1):
            plan = _plan(g, q, period, j, hi)
            if plan.cost > LOOKAHEAD_BUDGET:
                break
            best = plan
        _PLANS[key] = best
    return _PLANS[key]


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
    """Walks the coordinates in order, producing each coordinate's integer tables.

    With ``lookahead`` (the default), the weight of candidate ``k_j = a`` carries, per
    cell sample, the mass of the completions of the prefix (see the module docstring);
    without it, the Riemann constant (format version 1 of the LTC codec)."""

    def __init__(
        self,
        model: LatticePointModel,
        channels: np.ndarray,
        shift: np.ndarray,
        lookahead: bool = True,
    ):
        self.model = model
        self.channels = channels
        self.shift = shift
        count = channels.shape[0]
        self.logw = np.zeros((count, model.cell_samples.shape[0]))
        self.k = np.zeros((count, model.dim), dtype=np.int64)
        # offsets of every coordinate from the coefficients fixed so far, summed in order
        self.offset = shift.copy()
        dens = model.density
        # candidate window per coordinate: the widest support among the channels used
        g = model.generator
        n = model.dim
        self.used = []
        self.width = np.zeros(n, dtype=np.int64)
        for j in range(n):
            used = np.unique(channels[:, j]) if count else np.zeros(1, np.int64)
            self.used.append(used)
            span = float(np.max(dens.upper[used] - dens.lower[used]))
            self.width[j] = int(np.ceil(span / g[j, j])) + 2
        self.plans: list = [None] * n
        self.periodic: dict = {}
        if lookahead and n > 1 and count:
            self._prepare_lookahead()

    # -- lookahead ---------------------------------------------------------------------
    def _prepare_lookahead(self) -> None:
        g = self.model.generator
        n = self.model.dim
        q = _residue_orders(g)
        period = np.where(q > 0, q, 1) * np.diag(g)
        self.q, self.period = q, period
        # the last coordinate that is periodic-summable and not flat; completions beyond
        # the last non-flat coordinate sum to a constant (nested Riemann sums)
        last = -1
        for ell in range(1, n):
            if q[ell] > 0 and not self._flat(ell):
                last = ell
        for j in range(n - 1):
            limit = j
            while limit + 1 <= last and q[limit + 1] > 0:
                limit += 1
            if q[j] > 0 and limit > j:
                self.plans[j] = _window_plan(g, q, period, j, limit)

    def _table(self, ell: int) -> tuple[np.ndarray, int]:
        """(rows per channel, points K) of P·T: the density of coordinate ``ell``'s
        channels summed over the shifts by its period P (its values at i·P/K, i = 0..K),
        for the channels used."""
        if ell in self.periodic:
            return self.periodic[ell]
        dens = self.model.density
        p = float(self.period[ell])
        qq = int(max(self.q[ell], 1))
        lo, hi = _PERIOD_POINTS
        per_residue = int(np.ceil(p / qq / float(np.min(dens.step))))
        points = qq * min(max(per_residue, lo // qq), hi // qq)
        t = np.arange(points + 1) * (p / points)
        tab = np.zeros((dens.channels, points + 1))
        for c in self.used[ell]:
            c = int(c)
            h0 = int(np.floor(dens.lower[c] / p)) - 1
            h1 = int(np.ceil(dens.upper[c] / p)) + 1
            acc = np.zeros(points + 1)
            chan = np.full(points + 1, c, dtype=np.int64)
            for h in range(h0, h1 + 1):
                acc = acc + dens.pdf(chan, t + h * p)
            tab[c] = acc * p
        self.periodic[ell] = (tab, points)
        return self.periodic[ell]

    def _flat(self, ell: int) -> bool:
        """Whether the Riemann sums of coordinate ``ell``'s densities at its spacing are
        constant (to ``FLAT_TOLERANCE``) for every channel used."""
        tab, points = self._table(ell)
        qq = int(max(self.q[ell], 1))
        step = points // qq
        for c in self.used[ell]:
            acc = np.zeros(step)
            for r in range(qq):
                acc = acc + tab[int(c), r * step : (r + 1) * step]
            if np.max(np.abs(acc / qq - 1.0)) > FLAT_TOLERANCE:
                return False
        return True

    def _periodic(self, ell: int, rows: slice, phase: float) -> np.ndarray:
        """P·T of coordinate ``ell`` at offset + phase + cell samples: (rows, M)."""
        tab, points = self._table(ell)
        p = float(self.period[ell])
        u = self.model.cell_samples[:, ell] + phase
        y = (self.offset[rows, ell][:, None] + u[None, :]) / p
        pos = (y - np.floor(y)) * points
        i = np.minimum(pos.astype(np.int64), points - 1)
        frac = pos - i
        left, right = _gather(tab, self.channels[rows, ell][:, None], i)
        return left * (1.0 - frac) + right * frac

    def completions(self, j: int) -> np.ndarray | None:
        """(N, q_j, M): per residue of k_j modulo q_j and cell sample, the mass (times
        the periods) of the completions k_{j+1..hi} of the prefix; None: no lookahead."""
        plan = self.plans[j]
        if plan is None:
            return None
        count = self.k.shape[0]
        m = self.model.cell_samples.shape[0]
        out = np.empty((count, len(plan.start), m))
        chunk = max(1, _DP_ELEMENTS // m)
        for r0 in range(0, count, chunk):
            rows = slice(r0, min(count, r0 + chunk))
            values = [None]  # one state past the window: constant 1
            for level in reversed(plan.levels):
                tt = [self._periodic(level.coord, rows, ph) for ph in level.phases]
                new = []
                for moves in level.moves:
                    acc = None
                    for pi, nxt in moves:
                        term = tt[pi] if values[nxt] is None else tt[pi] * values[nxt]
                        acc = term if acc is None else acc + term
                    new.append(acc)
                values = new
            for r, s in enumerate(plan.start):
                out[rows, r, :] = values[s]
        top = out[:, 0, 0].copy()
        for r in range(out.shape[1]):
            for mm in range(m):
                top = np.maximum(top, out[:, r, mm])
        return out / np.where(top > 0, top, 1.0)[:, None, None]

    # -- tables ------------------------------------------------------------------------
    def tables(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(first candidate a0 (N,), integer frequencies (N, A + 1)) for coordinate j; the
        last symbol is the escape."""
        model, dens = self.model, self.model.density
        g = model.generator[j, j]
        ch = self.channels[:, j]
        base = self.offset[:, j]
        a0 = np.floor((dens.lower[ch] - base) / g).astype(np.int64)
        width = int(self.width[j])
        count = base.shape[0]
        # w_m = exp(logw_m − max_m logw_m), the joint weights of the cell samples
        top = self.logw[:, 0].copy()
        for m in range(1, self.logw.shape[1]):
            top = np.maximum(top, self.logw[:, m])
        w = detmath.exp(self.logw - top[:, None])
        cand = a0[:, None] + np.arange(width)[None, :]
        pos = base[:, None] + cand * g
        score = np.zeros((count, width))
        chm = ch[:, None]
        tail = self.completions(j)
        if tail is not None:
            qj = tail.shape[1]
            residue = cand - qj * np.floor_divide(cand, qj)
        for m in range(model.cell_samples.shape[0]):
            if tail is None:
                wm = w[:, m : m + 1]
            else:
                wm = np.take_along_axis(w[:, m : m + 1] * tail[:, :, m], residue, axis=1)
            score = score + wm * dens.pdf(chm, pos + model.cell_samples[m, j])
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
        g = model.generator
        x = self.offset[:, j] + kj.astype(np.float64) * g[j, j]
        kf = kj.astype(np.float64)
        for t in range(j + 1, model.dim):  # fixed order: bit-identical everywhere
            self.offset[:, t] = self.offset[:, t] + kf * g[j, t]
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
    *,
    lookahead: bool = True,
) -> bytes:
    """Code lattice coefficients ``k`` (N, n) int64 of the points ``k @ G + shift``.

    ``channels``: density channel of each coordinate, broadcast to (N, n); ``shift``:
    (N, n) float64 offset of the points in the latent space (minus the dither for
    subtractive dithering), default 0. Appends to ``encoder`` if given (and returns b"").
    ``lookahead=False`` builds the tables without the completion masses (the Riemann
    constant instead: the tables of LTC format version 1).
    """
    k = integer_array(coefficients, "coefficients")
    if k.ndim != 2 or k.shape[1] != model.dim:
        raise InputError("coefficients", f"must have shape (N, {model.dim}), got {k.shape}")
    ch, sh = _inputs(model, k.shape[0], channels, shift)
    enc = SymbolEncoder() if encoder is None else encoder
    walk = _Conditionals(model, ch, sh, lookahead)
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
    *,
    lookahead: bool = True,
) -> np.ndarray:
    """Inverse of :func:`encode_lattice_points`: (count, n) int64 coefficients.

    ``data`` is the stream (which must then end with the last coefficient:
    :meth:`SymbolDecoder.finish`, :class:`~rdlab.errors.StreamEndError` otherwise) or an
    open decoder (the caller checks the end).
    """
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise InputError("count", f"must be a non-negative integer, got {count!r}")
    ch, sh = _inputs(model, int(count), channels, shift)
    own = not isinstance(data, SymbolDecoder)
    dec = data if isinstance(data, SymbolDecoder) else SymbolDecoder(data)
    walk = _Conditionals(model, ch, sh, lookahead)
    for j in range(model.dim):
        a0, freq = walk.tables(j)
        width = freq.shape[1] - 1
        sym = dec.decode_categorical(freq).astype(np.int64)
        kj = a0 + sym
        escaped = sym == width
        if escaped.any():
            kj[escaped] = a0[escaped] + _unzigzag(dec.decode_nonnegative(int(escaped.sum())))
        walk.advance(j, kj)
    if own:
        dec.finish("lattice point stream")
    return walk.k


def lattice_point_bits(
    coefficients: Any,
    model: LatticePointModel,
    channels: Any = 0,
    shift: Any = None,
    *,
    lookahead: bool = True,
) -> np.ndarray:
    """Information content (bits) of each coded vector under the integer tables that
    :func:`encode_lattice_points` uses (escape payloads excluded): shape (N,)."""
    k = integer_array(coefficients, "coefficients")
    if k.ndim != 2 or k.shape[1] != model.dim:
        raise InputError("coefficients", f"must have shape (N, {model.dim}), got {k.shape}")
    ch, sh = _inputs(model, k.shape[0], channels, shift)
    walk = _Conditionals(model, ch, sh, lookahead)
    bits = np.zeros(k.shape[0])
    rows = np.arange(k.shape[0])
    for j in range(model.dim):
        a0, freq = walk.tables(j)
        width = freq.shape[1] - 1
        sym, _escaped = _symbols(k[:, j], a0, width)
        bits += PRECISION - np.log2(freq[rows, sym].astype(np.float64))
        walk.advance(j, k[:, j])
    return bits
