"""PrivUnit and PrivUnitG: pure ε-LDP randomizers for unit vectors.

**PrivUnit** (Bhowmick, Duchi, Freudiger, Kapoor & Rogers 2018): for a unit input u, draw
V uniformly on the cap ``{v in S^(d-1): <v, u> >= γ}`` with probability p, otherwise
uniformly on the rest of the sphere, and output ``Y = V / m`` with
``m = E<V, u>`` so that ``E[Y] = u``. **PrivUnitG** (Asi, Feldman & Talwar 2022): the
same with an isotropic Gaussian ``N(0, I / d)`` in place of the uniform sphere.

With ``q`` the base mass of the cap, the output density (w.r.t. the base law) is
``p / q`` on the cap and ``(1 - p) / (1 - q)`` off it, so the likelihood ratio between
two inputs is at most ``p (1 - q) / ((1 - p) q)``. Writing ``p = e^ε0 / (1 + e^ε0)`` and
``q = 1 / (1 + e^(ε - ε0))`` makes it exactly ``e^ε``: **ε-LDP**. The split ε0 is chosen
here to minimize the variance ``E||Y - u||² = E||V||²/m² - 1`` (``1/m² - 1`` on the
sphere) over a grid of 400 values of ε0 in (0, ε).

Domain: the unit ball. :meth:`PrivUnit.prepare` clips longer inputs onto the sphere and
sends a shorter one ``x`` to ``±x/|x|`` with probabilities ``(1 ± |x|) / 2`` (private
randomness; unbiased, and any randomized pre-processing keeps ε-LDP). The output law is
one REC block: a :class:`rdlab.rec.distributions.HalfspaceMixture` against its base (the
uniform sphere or the Gaussian), coded in about ``KL = p ln(p/q) + (1-p) ln((1-p)/(1-q))``
nats, the same for every input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import betainc, betaincinv, gammaln, ndtr, ndtri

from ...rec.distributions import Gaussian, HalfspaceMixture, UniformSphere
from ..guarantees import PureDP
from .base import Mechanism, check_dim, check_positive, check_vector

__all__ = ["PrivUnit", "PrivUnitG"]

_LOG2E = 1.0 / math.log(2.0)
_GRID = 400


def _split(epsilon: float, eps0: float) -> tuple[float, float]:
    """(p, q) for the split ε0 of ε."""
    p = 1.0 / (1.0 + math.exp(-eps0))
    q = 1.0 / (1.0 + math.exp(epsilon - eps0))
    return p, q


class _HalfspaceMechanism(Mechanism):
    """Shared machinery of PrivUnit (sphere base) and PrivUnitG (Gaussian base)."""

    def __init__(self, dim: int, *, epsilon: float, eps0: float | None = None) -> None:
        self.dim = check_dim(dim, minimum=2)
        self.guarantee = PureDP(check_positive("epsilon", epsilon))
        eps = self.guarantee.epsilon
        if eps0 is None:
            grid = eps * (np.arange(1, _GRID) / _GRID)
            best = min(grid, key=lambda e0: self._variance_at(*_split(eps, float(e0))))
            eps0 = float(best)
        elif not 0.0 < check_positive("eps0", eps0) < eps:
            from ...errors import InputError

            raise InputError("eps0", f"must lie in (0, epsilon = {eps:g}), got {eps0!r}")
        self.eps0 = float(eps0)
        self.p, self.q = _split(eps, self.eps0)
        self.threshold = self._threshold(self.q)
        self.m = self._mean_projection(self.p, self.q)

    # --- base-specific pieces -------------------------------------------------------
    def _threshold(self, q: float) -> float:
        raise NotImplementedError

    def _tail_moment(self, gamma: float) -> float:
        """E[t ; t >= γ] for t = <V, u> under the base law."""
        raise NotImplementedError

    def _base(self) -> Any:
        raise NotImplementedError

    def _tail_square(self, gamma: float) -> float:
        """E[t² ; t >= γ] for t = <V, u> under the base law."""
        raise NotImplementedError

    def _orthogonal_energy(self) -> float:
        """E||V - <V, u> u||², the same on and off the half-space."""
        raise NotImplementedError

    def _draw_projection(self, inside: bool, generator: np.random.Generator) -> float:
        raise NotImplementedError

    def _draw_orthogonal(self, u: np.ndarray, t: float, g: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    # --------------------------------------------------------------------------------
    def _mean_projection(self, p: float, q: float) -> float:
        """m = E<V, u> = E[t; t >= γ] (p / q - (1 - p) / (1 - q)) (base mean is 0)."""
        return self._tail_moment(self._threshold(q)) * (p / q - (1.0 - p) / (1.0 - q))

    def local_guarantee(self) -> PureDP:
        return self.guarantee

    def prepare(self, x: Any, generator: np.random.Generator) -> np.ndarray:
        """Clip onto the unit ball, then round to the sphere without bias (module doc)."""
        v = check_vector(x, self.dim)
        norm = float(np.linalg.norm(v))
        if norm >= 1.0:
            return v / norm
        if norm == 0.0:
            v = np.zeros(self.dim)
            v[0] = 1.0
            norm = 0.0
        else:
            v = v / norm
        return v if generator.random() < 0.5 * (1.0 + norm) else -v

    def references(self) -> list[Any]:
        return [self._base()]

    def laws(self, x: np.ndarray) -> list[Any]:
        return [HalfspaceMixture(self._base(), x, self.threshold, self.p)]

    def kl_budget_bits(self) -> list[float]:
        p, q = self.p, self.q
        return [(p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))) * _LOG2E]

    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.asarray(parts[0], dtype=np.float64) / self.m

    def sample(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        inside = bool(generator.random() < self.p)
        t = self._draw_projection(inside, generator)
        return self._draw_orthogonal(x, t, generator) / self.m

    def _variance_at(self, p: float, q: float) -> float:
        """E||Y - u||² = E||V||² / m² - 1 for a unit input u, at (p, q)."""
        gamma = self._threshold(q)
        inside = self._tail_square(gamma)  # E[t²; t >= γ]
        outside = self._tail_square(-math.inf) - inside  # E[t²; t < γ]
        energy = p * inside / q + (1.0 - p) * outside / (1.0 - q) + self._orthogonal_energy()
        m = self._mean_projection(p, q)
        return energy / (m * m) - 1.0

    def variance(self) -> float:
        """E||Y - u||² for a unit input (squared data units): ``1/m² - 1`` for PrivUnit,
        ``E||V||²/m² - 1`` for PrivUnitG (whose V is not of unit norm)."""
        return self._variance_at(self.p, self.q)

    def _params(self) -> dict[str, Any]:
        return {
            "eps0": self.eps0,
            "p": self.p,
            "q": self.q,
            "threshold": self.threshold,
            "m": self.m,
            "local": self.guarantee.to_json(),
        }


class PrivUnit(_HalfspaceMechanism):
    """PrivUnit on the unit sphere of R^dim (dim >= 2); see the module docstring.

    Args:
        dim: dimension d >= 2.
        epsilon: local ε (nats), > 0.
        eps0: the cap-probability share of ε (default: the variance-optimal split).

    Raises:
        InputError: bad dimension or privacy parameters.
    """

    name = "privunit"

    def _a(self) -> float:
        return 0.5 * (self.dim - 1)

    def _threshold(self, q: float) -> float:
        # q = P(<V,u> >= γ) = I_{(1-γ)/2}(a, a)
        return 1.0 - 2.0 * float(betaincinv(self._a(), self._a(), q))

    def _tail_moment(self, gamma: float) -> float:
        d = self.dim
        log_c = gammaln(d / 2.0) - 0.5 * math.log(math.pi) - gammaln((d - 1) / 2.0)
        return math.exp(log_c + 0.5 * (d - 1) * math.log1p(-gamma * gamma)) / (d - 1)

    def _base(self) -> UniformSphere:
        return UniformSphere(self.dim)

    def _tail_square(self, gamma: float) -> float:
        # V is a unit vector: only the total matters, E||V||² = 1 on and off the cap
        return 0.0

    def _orthogonal_energy(self) -> float:
        return 1.0

    def _draw_projection(self, inside: bool, generator: np.random.Generator) -> float:
        a = self._a()
        cut = float(betainc(a, a, 0.5 * (1.0 + self.threshold)))  # P((1+t)/2 <= (1+γ)/2)
        w = generator.random()
        level = cut + w * (1.0 - cut) if inside else w * cut
        return 2.0 * float(betaincinv(a, a, level)) - 1.0

    def _draw_orthogonal(self, u: np.ndarray, t: float, g: np.random.Generator) -> np.ndarray:
        z = g.standard_normal(self.dim)
        z -= (z @ u) * u
        z /= np.linalg.norm(z)
        return t * u + math.sqrt(max(0.0, 1.0 - t * t)) * z


class PrivUnitG(_HalfspaceMechanism):
    """PrivUnitG: PrivUnit with the Gaussian base ``N(0, I / dim)``; see module docstring.

    Args:
        dim: dimension d >= 2.
        epsilon: local ε (nats), > 0.
        eps0: the half-space-probability share of ε (default: variance-optimal split).

    Raises:
        InputError: bad dimension or privacy parameters.
    """

    name = "privunitg"

    def _std(self) -> float:
        return 1.0 / math.sqrt(self.dim)

    def _threshold(self, q: float) -> float:
        return -self._std() * float(ndtri(q))

    def _tail_moment(self, gamma: float) -> float:
        s = self._std()
        z = gamma / s
        return s * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    def _base(self) -> Gaussian:
        return Gaussian(np.zeros(self.dim), self._std())

    def _tail_square(self, gamma: float) -> float:
        # E[t² 1{t >= γ}] = σ² (z φ(z) + Φ(-z)), z = γ / σ
        s = self._std()
        if gamma == -math.inf:
            return s * s
        z = gamma / s
        return s * s * (z * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) + float(ndtr(-z)))

    def _orthogonal_energy(self) -> float:
        return (self.dim - 1) * self._std() ** 2

    def _draw_projection(self, inside: bool, generator: np.random.Generator) -> float:
        s = self._std()
        cut = float(ndtr(self.threshold / s))
        w = generator.random()
        level = cut + w * (1.0 - cut) if inside else w * cut
        level = min(max(level, 1e-300), 1.0 - 1e-16)
        return s * float(ndtri(level))

    def _draw_orthogonal(self, u: np.ndarray, t: float, g: np.random.Generator) -> np.ndarray:
        z = self._std() * g.standard_normal(self.dim)
        z -= (z @ u) * u
        return t * u + z
