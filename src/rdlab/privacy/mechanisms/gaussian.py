"""The Gaussian mechanism on an L2 ball: ``Y = clip(x) + N(0, σ² I)``.

Domain: the L2 ball of radius ``clip_norm`` (C); :meth:`GaussianMechanism.prepare`
scales a longer input onto its surface. Any two inputs differ by at most ``2C`` in L2,
so the local guarantee is that of a Gaussian mechanism with noise multiplier
``σ / (2C)``: (ε, δ)-DP by the exact analytic bound (Balle & Wang 2018;
:func:`rdlab.privacy.guarantees.gaussian_epsilon`). Give either ``sigma`` (with the
``delta`` at which to state ε) or a target ``(epsilon, delta)`` to calibrate σ.

REC blocks: coordinate blocks of ``block_size`` (the last one may be shorter), each with
the public reference ``N(0, (σ² + s²) I)``. For a block of b coordinates the worst case
over the ball (the whole norm C in the block) has Rényi-∞ divergence
``b/2 · ln(1 + s²/σ²) + C²/(2 s²)`` nats, which sets the sampler's expected number of
candidates (about ``e^D_inf``); an isotropic input (``||x_b||² = b C²/d``) has the
smallest KL, hence the shortest message, at ``s² = C²/d``. By default (:func:`plan_blocks`)
each block takes the s² nearest to ``C²/d`` whose worst-case D_inf stays within
``max_dinf_bits`` (12 bits: at most about 4,000 candidates per block for any input) and
whose D_inf at an isotropic input stays within ``typical_dinf_bits`` (by default 3 bits
above the least KL such an input can have, at least 4: the usual work grows with the
information the block carries, not beyond it), and
the block size is the one with the smallest expected message
``sum_b (KL_b + log2(KL_b + 1) + 2.5)`` bits for isotropic inputs (2.5 bits: the index
code's measured overhead at α = 2). Everything here depends on public parameters only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import InputError
from ...rec.distributions import Gaussian
from ..accounting import Accountant
from ..guarantees import ApproxDP, gaussian_epsilon, gaussian_noise_multiplier
from .base import CoordinateMechanism, check_dim, check_positive, check_vector

__all__ = [
    "GaussianMechanism",
    "block_variance",
    "clip_l2",
    "gaussian_block_reference",
    "plan_blocks",
    "ppr_gaussian_message_bound",
    "worst_dinf",
]

_LOG2E = 1.0 / math.log(2.0)
_TYPICAL_FLOOR = 4.0 / _LOG2E  # nats
_TYPICAL_SLACK = 3.0 / _LOG2E


def clip_l2(x: np.ndarray, radius: float) -> np.ndarray:
    """``x`` scaled onto the L2 ball of ``radius`` if it lies outside (shape kept)."""
    norm = float(np.linalg.norm(x))
    return x * (radius / norm) if norm > radius else x


def gaussian_block_reference(b: int, sigma: float, radius: float) -> tuple[float, float]:
    """(extra variance s², worst-case D_inf in nats) of the D_inf-optimal isotropic
    reference for a block of ``b`` coordinates, noise ``sigma``, inputs of L2 norm <=
    ``radius``: ``s² = (C² + sqrt(C⁴ + 4 b C² σ²)) / (2b)``."""
    c2 = radius * radius
    s2 = (c2 + math.sqrt(c2 * c2 + 4.0 * b * c2 * sigma * sigma)) / (2.0 * b)
    return s2, worst_dinf(b, s2, sigma, radius)


def worst_dinf(b: int, s2: float, sigma: float, radius: float) -> float:
    """Worst-case D_inf (nats) over the ball of a block of b coordinates whose reference
    has extra variance ``s2``: ``b/2 · ln(1 + s²/σ²) + C²/(2 s²)``."""
    return 0.5 * b * math.log1p(s2 / (sigma * sigma)) + radius * radius / (2.0 * s2)


def _below(f: Any, at_min: float, budget: float) -> tuple[float, float] | None:
    """The interval of s² where the convex ``f`` (minimal at ``at_min``) is <= budget,
    by bisection in log s² (200 steps each side); None when empty."""
    if f(at_min) > budget:
        return None
    ends = []
    for far in (at_min * 1e-12, at_min * 1e12):
        inside, outside = at_min, far
        if f(outside) <= budget:
            ends.append(outside)
            continue
        for _ in range(200):
            mid = math.sqrt(inside * outside)
            inside, outside = (mid, outside) if f(mid) <= budget else (inside, mid)
        ends.append(inside)
    return ends[0], ends[1]


def block_variance(
    b: int, sigma: float, radius: float, dim: int, budget: float, typical: float | None
) -> float:
    """The reference's extra variance s² for a block of b coordinates: ``C²/d`` (the
    smallest KL for isotropic inputs), moved into the interval where the worst-case
    D_inf is <= ``budget`` nats and the D_inf of an isotropic input
    (``||x_b||² = b C²/d``) is <= ``typical`` nats (None: the least KL of such an input
    plus 3 bits, and at least 4 bits); the D_inf-optimal s² when the interval is empty."""
    s_opt, _ = gaussian_block_reference(b, sigma, radius)
    energy = radius * radius * b / dim
    if typical is None:  # a few bits above the least KL an isotropic input can have
        least = _block_kl_nats(b, sigma, radius * radius / dim, energy)
        typical = max(_TYPICAL_FLOOR, least + _TYPICAL_SLACK)
    iso_opt = (energy + math.sqrt(energy * energy + 4.0 * b * energy * sigma * sigma)) / (2 * b)
    worst = _below(lambda v: worst_dinf(b, v, sigma, radius), s_opt, budget)
    iso = _below(lambda v: worst_dinf(b, v, sigma, math.sqrt(energy)), iso_opt, typical)
    if worst is None or iso is None or max(worst[0], iso[0]) > min(worst[1], iso[1]):
        return s_opt
    return min(max(radius * radius / dim, worst[0], iso[0]), worst[1], iso[1])


def ppr_gaussian_message_bound(
    sigma: float, radius: float, blocks: list[int], alpha: float, delta: float
) -> ApproxDP:
    """A proved local guarantee (ε', δ') for the PPR message of the Gaussian mechanism.

    The Gaussian's privacy loss is unbounded, so the pure argument (2αε) does not apply
    as is. Restrict each block's output law to the ball ``B`` of radius R around 0 (the
    same set for every input): ``Q~_x = Q_x(· | B)``. On B the log-ratio of two inputs'
    restricted densities is at most ``(<2z - x - x', x - x'>)/(2σ²) + ln(1/(1 - η))``
    summed over blocks, hence (Cauchy-Schwarz, ``||x||, ||x'|| <= C``)
    ``ε~ = (2 C R sqrt(n_b) + 2 C²) / σ² + n_b ln(1 / (1 - η))``, where ``η`` is the
    largest probability that a block's output leaves B (a non-central chi-square tail at
    ``||x_b|| = C``, the worst input). PPR run on ``Q~`` is therefore 2αε~-LDP. And
    PPR on ``Q`` and on ``Q~``, driven by the same candidates and private randomness,
    choose the same index whenever ``Q``'s choice lies in B (restricting and rescaling
    only removes points outside B), which fails with probability at most ``n_b η``
    (exactness: the chosen point has law Q). So for any event S of the message,
    ``P_x(S) <= e^(2αε~) (P_x'(S) + n_b η) + n_b η``: the message is
    ``(2αε~, (1 + e^(2αε~)) n_b η)``-LDP. R is the smallest on a fine grid (4,000
    geometric steps from C to C + 200σ) whose δ' meets ``delta``; the statement is made
    at ``delta`` itself.

    The bound is valid but loose (about 10x the mechanism's ε at d = 16); the paper's own
    relation is tighter and is not restated here.

    Raises:
        InputError: no R meets ``delta`` (too small a δ).
    """
    from scipy.stats import ncx2

    c = radius
    nb, b = len(blocks), max(blocks)
    r = c + sigma * np.geomspace(1e-3, 200.0, 4000)
    log_eta = ncx2.logsf((r / sigma) ** 2, df=b, nc=(c / sigma) ** 2)
    useful = log_eta < -1.0  # most of the law already inside the ball
    with np.errstate(invalid="ignore", divide="ignore"):
        eps_t = (2 * c * r * math.sqrt(nb) + 2 * c * c) / sigma**2 - nb * np.log1p(
            -np.exp(np.minimum(log_eta, -1.0))
        )
        log_delta = math.log(nb) + log_eta + np.logaddexp(0.0, 2 * alpha * eps_t)
    ok = np.flatnonzero(useful & (log_delta <= math.log(delta)))
    if ok.size:
        # the message meets (2αε~, δ') with δ' <= delta, hence (2αε~, delta)
        return ApproxDP(2.0 * alpha * float(eps_t[ok[0]]), float(delta))
    raise InputError("delta", f"no ball radius gives the PPR message delta <= {delta:g}")


def _sizes(dim: int, b: int) -> list[int]:
    return [b] * (dim // b) + ([dim % b] if dim % b else [])


def plan_blocks(dim: int, sigma: float, radius: float, budget: float, typical: float | None) -> int:
    """The block size with the smallest expected message for isotropic inputs (bits,
    ``sum (KL + log2(KL + 1) + 2.5)``) among those whose blocks all meet the worst-case
    D_inf ``budget`` (nats; :func:`block_variance` for ``typical``); 1 when none does."""
    best, best_cost = 1, math.inf
    for b in range(1, dim + 1):
        cost = 0.0
        for size in _sizes(dim, b):
            s2 = block_variance(size, sigma, radius, dim, budget, typical)
            if worst_dinf(size, s2, sigma, radius) > budget * (1 + 1e-9):
                cost = math.inf
                break
            kl = _block_kl_nats(size, sigma, s2, radius * radius * size / dim) * _LOG2E
            cost += kl + math.log2(kl + 1.0) + 2.5
        if cost < best_cost:
            best, best_cost = b, cost
    return best


def _block_kl_nats(b: int, sigma: float, s2: float, energy: float) -> float:
    """KL(N(x_b, σ² I) || N(0, (σ² + s²) I)) in nats for a block with ||x_b||² = energy."""
    tau2 = sigma * sigma + s2
    return 0.5 * b * (math.log(tau2 / (sigma * sigma)) + sigma * sigma / tau2 - 1.0) + (
        energy / (2.0 * tau2)
    )


class GaussianMechanism(CoordinateMechanism):
    """Gaussian noise on an L2 ball (see the module docstring).

    Args:
        dim: input dimension d >= 1.
        clip_norm: L2 radius C of the domain (data units), > 0.
        sigma: noise std per coordinate (data units); or None to calibrate from
            ``epsilon`` and ``delta``.
        epsilon, delta: target local (ε, δ) when ``sigma`` is None; with ``sigma`` given,
            ``delta`` (default 1e-5) is where ε is stated.
        block_size: coordinates per REC block (default: see module docstring).
        max_dinf_bits: worst-case D_inf per block (bits) over the ball: bounds the
            encoder's work for any input.
        typical_dinf_bits: D_inf per block (bits) of an isotropic input: sets the usual
            speed (about ``2^typical`` candidates per block); default: 3 bits above the
            least KL such an input can have, and at least 4.
        reference_std: the references' std per coordinate (data units) instead of the
            D_inf-optimal one; must exceed ``sigma`` (otherwise the density ratio of
            output law to reference is unbounded and no exact sampler applies).

    Raises:
        InputError: bad dimensions, radii, privacy parameters, or both/neither of sigma
            and epsilon.
    """

    name = "gaussian"

    def __init__(
        self,
        dim: int,
        *,
        clip_norm: float = 1.0,
        sigma: float | None = None,
        epsilon: float | None = None,
        delta: float = 1e-5,
        block_size: int | None = None,
        max_dinf_bits: float = 12.0,
        typical_dinf_bits: float | None = None,
        reference_std: float | None = None,
    ) -> None:
        self.dim = check_dim(dim)
        self.clip_norm = check_positive("clip_norm", clip_norm)
        sensitivity = 2.0 * self.clip_norm
        if (sigma is None) == (epsilon is None):
            raise InputError("sigma", "give exactly one of sigma and epsilon")
        if sigma is None:
            epsilon = check_positive("epsilon", epsilon)
            self.sigma = gaussian_noise_multiplier(epsilon, delta) * sensitivity
            self.guarantee = ApproxDP(float(epsilon), float(delta))  # type: ignore[arg-type]
        else:
            self.sigma = check_positive("sigma", sigma)
            eps = gaussian_epsilon(self.sigma / sensitivity, delta)
            self.guarantee = ApproxDP(eps, float(delta))
        budget = check_positive("max_dinf_bits", max_dinf_bits) / _LOG2E
        typical = (
            None
            if typical_dinf_bits is None
            else check_positive("typical_dinf_bits", typical_dinf_bits) / _LOG2E
        )
        fixed_s2 = None
        if reference_std is not None:
            ref_std = check_positive("reference_std", reference_std)
            if ref_std <= self.sigma:
                raise InputError(
                    "reference_std",
                    f"{ref_std:g} <= the noise std {self.sigma:g}: the density ratio of the "
                    "output law to the reference is unbounded, no exact sampler applies",
                )
            fixed_s2 = ref_std * ref_std - self.sigma * self.sigma
        if block_size is None:
            if fixed_s2 is None:
                block_size = plan_blocks(self.dim, self.sigma, self.clip_norm, budget, typical)
            else:
                block_size = self.dim
                while block_size > 1 and (
                    worst_dinf(block_size, fixed_s2, self.sigma, self.clip_norm) > budget
                ):
                    block_size = (block_size + 1) // 2

        def reference(b: int) -> Gaussian:
            s2 = fixed_s2 or block_variance(
                b, self.sigma, self.clip_norm, self.dim, budget, typical
            )
            return Gaussian(np.zeros(b), math.sqrt(self.sigma**2 + s2))

        def budget_bits(b: int, ref: Gaussian) -> float:
            # the index code is tuned to an isotropic input on the sphere of radius C
            s2 = float(ref.std[0]) ** 2 - self.sigma**2
            return _block_kl_nats(b, self.sigma, s2, self.clip_norm**2 * b / self.dim) * _LOG2E

        self._set_blocks(block_size, reference, budget_bits)

    def ppr_message_guarantee(self, alpha: float, delta: float | None = None) -> ApproxDP:
        """A proved, loose (ε', δ') local guarantee of the PPR message (see
        :func:`ppr_gaussian_message_bound`), at ``delta`` (default: the mechanism's δ)."""
        target = self.guarantee.delta if delta is None else delta
        return ppr_gaussian_message_bound(
            self.sigma, self.clip_norm, self.block_sizes(), alpha, target
        )

    def account(self, accountant: Accountant, count: int = 1) -> Accountant:
        """Compose ``count`` uses exactly (a Gaussian of multiplier σ / 2C), not by (ε, δ)."""
        return accountant.add_gaussian(self.sigma / (2.0 * self.clip_norm), count)

    def prepare(self, x: Any, generator: np.random.Generator) -> np.ndarray:
        """Inputs outside the ball are scaled onto it (the only change made)."""
        return clip_l2(check_vector(x, self.dim), self.clip_norm)

    def _block_law(self, x_block: np.ndarray) -> Gaussian:
        return Gaussian(x_block, self.sigma)

    def sample(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        return x + self.sigma * generator.standard_normal(self.dim)

    def _noise_params(self) -> dict[str, Any]:
        return {"sigma": self.sigma}
