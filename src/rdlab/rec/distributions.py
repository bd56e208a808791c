"""Targets and proposals for relative entropy coding, and their divergences.

Every distribution maps **open uniforms** (values in (0, 1), as drawn by
:func:`rdlab.rng.open_uniform_rows`) to samples with rdlab's bit-reproducible functions
(:mod:`rdlab.detmath`), so a decoder regenerates exactly the encoder's candidates.

- :class:`Gaussian`: diagonal Gaussian in ``dim`` dimensions (``mean``, ``std`` float64
  arrays of shape ``(dim,)``); the usual target and proposal.
- :class:`Uniform` and :class:`Triangular`: one-dimensional, for the closed-form
  triangular-target / uniform-proposal pair.
- :class:`Laplace`: diagonal Laplace law (the Laplace mechanism's output).
- :class:`Categorical`: a law on a finite alphabet (randomized response).
- :class:`UniformSphere` and :class:`HalfspaceMixture`: the uniform law on the unit
  sphere and a base law tilted on a half-space (PrivUnit and PrivUnitG outputs).

Which (target, proposal) pairs the samplers accept, with their KL and sup log-ratio in
closed form, is one registry: :func:`register_pair` (a new family is one call).

Divergences (:func:`kl_bits`, :func:`dinf_bits`) are in **bits**; log densities and log
density ratios (:func:`log_ratio`) are in **nats**. Shapes: a batch of points is an
array ``(..., dim)``; log densities come back with shape ``(...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import betainc, ndtr, ndtri

from .. import detmath
from ..errors import InputError

__all__ = [
    "Categorical",
    "Distribution",
    "Gaussian",
    "HalfspaceMixture",
    "Laplace",
    "PairFormulas",
    "Triangular",
    "Uniform",
    "UniformSphere",
    "dinf_bits",
    "halfspace_mass",
    "kl_bits",
    "log_ratio",
    "log_ratio_max",
    "register_pair",
    "supported_pair",
]

_LOG2E = 1.0 / math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _vector(value: Any, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(name, f"must be a scalar or a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(name, "must be finite")
    return arr


def _location_scale(
    location: Any, scale: Any, names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Finite location and positive scale vectors of one shape (a scalar is broadcast)."""
    m = _vector(location, names[0])
    s = _vector(scale, names[1])
    if s.size == 1 and m.size > 1:
        s = np.full_like(m, s[0])
    if m.size == 1 and s.size > 1:
        m = np.full_like(s, m[0])
    if m.shape != s.shape:
        raise InputError(names[1], f"has shape {s.shape}, {names[0]} has {m.shape}")
    if (s <= 0).any():
        raise InputError(names[1], "must be > 0")
    return m, s


@dataclass(frozen=True, eq=False)
class Gaussian:
    """Diagonal Gaussian N(mean, diag(std**2)); ``mean`` and ``std`` have shape (dim,)."""

    mean: np.ndarray
    std: np.ndarray

    def __init__(self, mean: Any, std: Any) -> None:
        m, s = _location_scale(mean, std, ("mean", "std"))
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "std", s)

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    def log_prob(self, x: Any) -> np.ndarray:
        """log density in nats at points ``x`` of shape (..., dim)."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.std
        return np.sum(-0.5 * z * z - np.log(self.std) - _HALF_LOG_2PI, axis=-1)

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """Samples from open uniforms ``u`` (..., dim): mean + std * Phi^-1(u), bit-exact."""
        return self.mean + self.std * detmath.normal_ppf(u)

    def fast_from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """As :meth:`from_uniforms` with SciPy's inverse CDF (encoder-side search only:
        equal to within a few ulps, not bit-reproducible)."""
        return self.mean + self.std * ndtri(u)

    def __repr__(self) -> str:
        return f"Gaussian(mean={self.mean.tolist()}, std={self.std.tolist()})"


@dataclass(frozen=True)
class Uniform:
    """Uniform on [low, high] (one dimension)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise InputError("high", f"need finite low < high, got [{self.low}, {self.high}]")

    @property
    def dim(self) -> int:
        return 1

    @property
    def width(self) -> float:
        return self.high - self.low

    def log_prob(self, x: Any) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64)[..., 0]
        inside = (v >= self.low) & (v <= self.high)
        return np.where(inside, -math.log(self.width), -np.inf)

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        return self.low + self.width * np.asarray(u, dtype=np.float64)


@dataclass(frozen=True)
class Triangular:
    """Triangular density on [low, high] with its peak at ``mode`` (one dimension)."""

    low: float
    mode: float
    high: float

    def __post_init__(self) -> None:
        vals = (self.low, self.mode, self.high)
        if not all(math.isfinite(v) for v in vals) or not self.low <= self.mode <= self.high:
            raise InputError("mode", f"need finite low <= mode <= high, got {vals}")
        if not self.low < self.high:
            raise InputError("high", "must be > low")

    @property
    def dim(self) -> int:
        return 1

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def peak(self) -> float:
        """The density at the mode, 2 / width."""
        return 2.0 / self.width

    def density(self, x: Any) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64)[..., 0]
        left = np.where(
            self.mode > self.low, (v - self.low) / max(self.mode - self.low, 1e-300), 1.0
        )
        right = np.where(
            self.high > self.mode, (self.high - v) / max(self.high - self.mode, 1e-300), 1.0
        )
        rising = np.where(v <= self.mode, left, right)
        return np.where((v >= self.low) & (v <= self.high), self.peak * np.clip(rising, 0, 1), 0.0)

    def log_prob(self, x: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.density(x))

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF (two square-root branches), bit-exact (IEEE sqrt)."""
        u = np.asarray(u, dtype=np.float64)
        c = (self.mode - self.low) / self.width
        left = self.low + np.sqrt(u * self.width * (self.mode - self.low))
        right = self.high - np.sqrt((1.0 - u) * self.width * (self.high - self.mode))
        return np.where(u < c, left, right)


@dataclass(frozen=True, eq=False)
class Laplace:
    """Diagonal Laplace law: independent coordinates with density
    ``exp(-|x - loc| / scale) / (2 scale)``; ``loc`` and ``scale`` have shape (dim,)."""

    loc: np.ndarray
    scale: np.ndarray

    def __init__(self, loc: Any, scale: Any) -> None:
        m, b = _location_scale(loc, scale, ("loc", "scale"))
        object.__setattr__(self, "loc", m)
        object.__setattr__(self, "scale", b)

    @property
    def dim(self) -> int:
        return int(self.loc.size)

    def log_prob(self, x: Any) -> np.ndarray:
        """log density in nats at points ``x`` of shape (..., dim)."""
        z = np.abs(np.asarray(x, dtype=np.float64) - self.loc) / self.scale
        return np.sum(-z - np.log(2.0 * self.scale), axis=-1)

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """Samples from open uniforms ``u`` (..., dim) by the inverse CDF, bit-exact:
        ``loc - scale * sign(u - 1/2) * log(1 - 2 |u - 1/2|)`` (the subtraction from 1/2
        and the doubling are exact in float64)."""
        u = np.asarray(u, dtype=np.float64)
        h = u - 0.5
        return self.loc - self.scale * np.sign(h) * detmath.log1p(-2.0 * np.abs(h))

    def fast_from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """As :meth:`from_uniforms` with NumPy's log1p (encoder-side search only)."""
        h = np.asarray(u, dtype=np.float64) - 0.5
        return self.loc - self.scale * np.sign(h) * np.log1p(-2.0 * np.abs(h))

    def __repr__(self) -> str:
        return f"Laplace(loc={self.loc.tolist()}, scale={self.scale.tolist()})"


@dataclass(frozen=True, eq=False)
class Categorical:
    """A law on the finite alphabet ``{0, ..., k - 1}`` (one dimension; samples are the
    symbols as float64, shape (1,)). ``probs``: shape (k,), non-negative, summing to 1
    within 1e-9 (renormalized exactly as given)."""

    probs: np.ndarray

    def __init__(self, probs: Any) -> None:
        p = _vector(probs, "probs")
        if p.size < 2:
            raise InputError("probs", f"needs at least 2 symbols, got {p.size}")
        if (p < 0).any() or abs(float(p.sum()) - 1.0) > 1e-9:
            raise InputError("probs", "must be >= 0 and sum to 1")
        object.__setattr__(self, "probs", p / p.sum())

    @classmethod
    def uniform(cls, k: int) -> Categorical:
        """The uniform law on ``k`` symbols."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise InputError("k", f"must be an integer >= 2, got {k!r}")
        return cls(np.full(int(k), 1.0 / int(k)))

    @property
    def dim(self) -> int:
        return 1

    @property
    def size(self) -> int:
        """The alphabet size k."""
        return int(self.probs.size)

    def log_prob(self, x: Any) -> np.ndarray:
        """log probability in nats of symbols ``x`` (..., 1); -inf off the alphabet."""
        v = np.asarray(x, dtype=np.float64)[..., 0]
        inside = (v >= 0) & (v < self.size) & (v == np.floor(v))
        idx = np.where(inside, v, 0).astype(np.int64)
        with np.errstate(divide="ignore"):
            return np.where(inside, np.log(self.probs[idx]), -np.inf)

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """Symbols from open uniforms ``u`` (..., 1) by the inverse CDF; the cumulative
        sums are a sequential float64 ``cumsum`` of ``probs`` (the same on every machine)."""
        u = np.asarray(u, dtype=np.float64)
        edges = np.cumsum(self.probs)[:-1]
        return np.searchsorted(edges, u, side="right").astype(np.float64)


def _unit_rows(z: np.ndarray) -> np.ndarray:
    """Rows of ``z`` (..., dim) divided by their Euclidean norms, bit-exact: the squares
    are summed coordinate by coordinate in a fixed order (no SIMD-dependent reduction),
    then one IEEE square root and one division per coordinate."""
    acc = z[..., 0] * z[..., 0]
    for j in range(1, z.shape[-1]):
        acc = acc + z[..., j] * z[..., j]
    return z / np.sqrt(acc)[..., None]


@dataclass(frozen=True)
class UniformSphere:
    """The uniform law on the unit sphere S^(dim-1) of R^dim (dim >= 2); densities are
    taken with respect to this law itself, so ``log_prob`` is 0 on the sphere."""

    dimension: int

    def __post_init__(self) -> None:
        d = self.dimension
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
            raise InputError("dim", f"must be an integer >= 2, got {d!r}")

    @property
    def dim(self) -> int:
        return int(self.dimension)

    def log_prob(self, x: Any) -> np.ndarray:
        return np.zeros(np.asarray(x, dtype=np.float64).shape[:-1])

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """Points on the sphere from open uniforms ``u`` (..., dim): standard normals by
        :func:`rdlab.detmath.normal_ppf`, normalized by :func:`_unit_rows` (bit-exact)."""
        return _unit_rows(detmath.normal_ppf(np.asarray(u, dtype=np.float64)))

    def fast_from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """As :meth:`from_uniforms` with SciPy and NumPy (encoder-side search only)."""
        z = ndtri(np.asarray(u, dtype=np.float64))
        return z / np.linalg.norm(z, axis=-1, keepdims=True)


def halfspace_mass(base: Any, threshold: float) -> float:
    """``base({z : <z, u> >= threshold})`` for any unit ``u``: the uniform sphere (an
    incomplete beta function) or a zero-mean isotropic Gaussian (a normal tail)."""
    if isinstance(base, UniformSphere):
        if threshold <= -1.0:
            return 1.0
        if threshold >= 1.0:
            return 0.0
        a = 0.5 * (base.dim - 1)
        return float(betainc(a, a, 0.5 * (1.0 - threshold)))
    if isinstance(base, Gaussian):
        if np.any(base.mean != 0.0) or np.any(base.std != base.std[0]):
            raise InputError("base", "a Gaussian base must be zero-mean and isotropic")
        return float(ndtr(-threshold / base.std[0]))
    raise InputError("base", f"must be a UniformSphere or a Gaussian, got {base!r}")


@dataclass(frozen=True, eq=False)
class HalfspaceMixture:
    """A base law tilted on the half-space ``H = {z : <z, direction> >= threshold}``: the
    density with respect to ``base`` is ``p / q`` on H and ``(1 - p) / (1 - q)`` off
    it, where ``q = base(H)`` is computed here. With ``base = UniformSphere(dim)`` this is
    the output law of PrivUnit (Bhowmick et al. 2018; ``<V, u>`` has
    ``(1 + <V, u>) / 2 ~ Beta((dim - 1) / 2, (dim - 1) / 2)``), with a zero-mean isotropic
    ``Gaussian`` base that of PrivUnitG (Asi, Feldman & Talwar 2022; ``q`` is a normal
    tail). ``direction``: shape (dim,), unit norm (within 1e-9). ``p`` in (0, 1). The base
    is the natural REC proposal: the ratio is bounded by ``max(p / q, (1 - p) / (1 - q))``.
    """

    base: Any
    direction: np.ndarray
    threshold: float
    p: float
    q: float

    def __init__(self, base: Any, direction: Any, threshold: float, p: float) -> None:
        u = _vector(direction, "direction")
        if not isinstance(base, (UniformSphere, Gaussian)):
            raise InputError("base", f"must be a UniformSphere or a Gaussian, got {base!r}")
        if u.size != base.dim:
            raise InputError("direction", f"has {u.size} dimensions, the base {base.dim}")
        if abs(float(np.linalg.norm(u)) - 1.0) > 1e-9:
            raise InputError("direction", "must have unit norm")
        if not (isinstance(p, (int, float, np.floating)) and 0.0 < float(p) < 1.0):
            raise InputError("p", f"must be in (0, 1), got {p!r}")
        if not math.isfinite(threshold):
            raise InputError("threshold", "must be finite")
        q = halfspace_mass(base, float(threshold))
        if not 0.0 < q < 1.0:
            raise InputError("threshold", f"leaves base mass {q:g} on the half-space")
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "direction", u)
        object.__setattr__(self, "threshold", float(threshold))
        object.__setattr__(self, "p", float(p))
        object.__setattr__(self, "q", q)

    @property
    def dim(self) -> int:
        return int(self.direction.size)

    def inside(self, x: Any) -> np.ndarray:
        """Whether points ``x`` (..., dim) lie in the half-space H (bool, shape (...))."""
        return np.asarray(x, dtype=np.float64) @ self.direction >= self.threshold

    def log_prob(self, x: Any) -> np.ndarray:
        """log density in nats with respect to the base measure of ``base.log_prob``."""
        tilt = np.where(
            self.inside(x), math.log(self.p / self.q), math.log((1 - self.p) / (1 - self.q))
        )
        return self.base.log_prob(x) + tilt


Distribution = Any  # any registered target or proposal (see register_pair)


@dataclass(frozen=True)
class PairFormulas:
    """Closed forms for a (target type, proposal type) pair, both in **nats**:
    ``kl(q, p)`` = D_KL(Q || P) and ``sup(q, p)`` = sup log dQ/dP (inf when unbounded)."""

    kl: Any
    sup: Any


_PAIRS: dict[tuple[type, type], PairFormulas] = {}


def register_pair(target: type, proposal: type, *, kl: Any, sup: Any) -> None:
    """Teach the samplers a new (target, proposal) pair: ``kl(q, p)`` and ``sup(q, p)``
    return D_KL(Q || P) and sup log dQ/dP in nats. A family of targets (a privacy
    mechanism's output law, say) is one call here, next to the class that defines it."""
    _PAIRS[(target, proposal)] = PairFormulas(kl, sup)


def _formulas(target: Any, proposal: Any, what: str) -> PairFormulas:
    formulas = _PAIRS.get((type(target), type(proposal)))
    if formulas is None:
        raise InputError(
            "target",
            f"no closed-form {what} for {type(target).__name__} vs {type(proposal).__name__}",
        )
    _same_dim(target, proposal)
    return formulas


def _same_dim(target: Distribution, proposal: Distribution) -> None:
    if target.dim != proposal.dim:
        raise InputError("target", f"has {target.dim} dimensions, the proposal {proposal.dim}")


def supported_pair(target: Any, proposal: Any) -> bool:
    """Whether (type(target), type(proposal)) has registered closed forms."""
    return (type(target), type(proposal)) in _PAIRS


def log_ratio(target: Distribution, proposal: Distribution, x: Any) -> np.ndarray:
    """log dQ/dP at points ``x`` (..., dim), in nats (-inf outside Q's support)."""
    _same_dim(target, proposal)
    with np.errstate(invalid="ignore"):
        out = target.log_prob(x) - proposal.log_prob(x)
    return np.where(np.isnan(out), -np.inf, out)


def _gaussian_terms(q: Gaussian, p: Gaussian) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension KL (nats) and sup log-ratio (nats, inf where unbounded)."""
    rho2 = (q.std / p.std) ** 2
    delta2 = ((q.mean - p.mean) / p.std) ** 2
    kl = 0.5 * (rho2 + delta2 - 1.0 - np.log(rho2))
    with np.errstate(divide="ignore"):
        sup = np.where(
            rho2 < 1.0,
            -0.5 * np.log(rho2) + 0.5 * delta2 / np.where(rho2 < 1.0, 1.0 - rho2, 1.0),
            np.where((rho2 == 1.0) & (delta2 == 0.0), 0.0, np.inf),
        )
    return kl, sup


def _laplace_terms(q: Laplace, p: Laplace) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension KL and sup log-ratio (nats) of Laplace(m, b) against Laplace(m', B):
    KL = log(B / b) + (|m - m'| + b exp(-|m - m'| / b)) / B - 1; the ratio is bounded iff
    b <= B, with sup log-ratio log(B / b) + |m - m'| / B (reached at x = m)."""
    shift = np.abs(q.loc - p.loc)
    kl = np.log(p.scale / q.scale) + (shift + q.scale * np.exp(-shift / q.scale)) / p.scale - 1.0
    sup = np.where(q.scale <= p.scale, np.log(p.scale / q.scale) + shift / p.scale, np.inf)
    return kl, sup


def _inside(q: Uniform | Triangular, p: Uniform) -> bool:
    return q.low >= p.low and q.high <= p.high


def _uniform_kl(q: Uniform | Triangular, p: Uniform) -> float:
    if not _inside(q, p):
        return math.inf
    # E_Q[log q] in nats: -log W_q for a uniform, log(2 / W_q) - 1/2 for a triangle
    entropy_gap = math.log(2.0) - 0.5 if isinstance(q, Triangular) else 0.0
    return entropy_gap + math.log(p.width / q.width)


def _uniform_sup(q: Uniform | Triangular, p: Uniform) -> float:
    if not _inside(q, p):
        return math.inf
    peak = q.peak if isinstance(q, Triangular) else 1.0 / q.width
    return math.log(peak * p.width)


def _categorical_terms(q: Categorical, p: Categorical) -> tuple[float, float]:
    if q.size != p.size:
        raise InputError("target", f"has {q.size} symbols, the proposal {p.size}")
    support = q.probs > 0
    if (p.probs[support] == 0).any():
        return math.inf, math.inf
    log_r = np.log(q.probs[support] / p.probs[support])
    return float(np.sum(q.probs[support] * log_r)), float(log_r.max())


register_pair(
    Gaussian,
    Gaussian,
    kl=lambda q, p: float(np.sum(_gaussian_terms(q, p)[0])),
    sup=lambda q, p: float(np.sum(_gaussian_terms(q, p)[1])),
)
register_pair(
    Laplace,
    Laplace,
    kl=lambda q, p: float(np.sum(_laplace_terms(q, p)[0])),
    sup=lambda q, p: float(np.sum(_laplace_terms(q, p)[1])),
)
for _target in (Uniform, Triangular):
    register_pair(_target, Uniform, kl=_uniform_kl, sup=_uniform_sup)
register_pair(
    Categorical,
    Categorical,
    kl=lambda q, p: _categorical_terms(q, p)[0],
    sup=lambda q, p: _categorical_terms(q, p)[1],
)


def _halfspace_terms(q: HalfspaceMixture, p: Any) -> tuple[float, float]:
    if p != q.base and not _same_law(p, q.base):
        raise InputError("proposal", "a half-space mixture is coded against its own base law")
    hi, lo = math.log(q.p / q.q), math.log((1 - q.p) / (1 - q.q))
    return q.p * hi + (1 - q.p) * lo, max(hi, lo)


def _same_law(a: Any, b: Any) -> bool:
    if isinstance(a, Gaussian) and isinstance(b, Gaussian):
        return np.array_equal(a.mean, b.mean) and np.array_equal(a.std, b.std)
    return False


for _base in (UniformSphere, Gaussian):
    register_pair(
        HalfspaceMixture,
        _base,
        kl=lambda q, p: _halfspace_terms(q, p)[0],
        sup=lambda q, p: _halfspace_terms(q, p)[1],
    )


def kl_bits(target: Distribution, proposal: Distribution) -> float:
    """D_KL(Q || P) in bits (inf if Q is not absolutely continuous w.r.t. P)."""
    return float(_formulas(target, proposal, "KL").kl(target, proposal)) * _LOG2E


def log_ratio_max(target: Distribution, proposal: Distribution) -> float:
    """sup_x log dQ/dP(x) in nats (D_inf in nats); inf when the ratio is unbounded."""
    return float(_formulas(target, proposal, "D_inf").sup(target, proposal))


def dinf_bits(target: Distribution, proposal: Distribution) -> float:
    """Renyi infinity divergence log2 sup dQ/dP in bits (inf when unbounded)."""
    return log_ratio_max(target, proposal) * _LOG2E
