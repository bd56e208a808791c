"""The Gaussian mechanism on an L2 ball: ``Y = clip(x) + N(0, σ² I)``.

Domain: the L2 ball of radius ``clip_norm`` (C); :meth:`GaussianMechanism.prepare`
scales a longer input onto its surface. Any two inputs differ by at most ``2C`` in L2,
so the local guarantee is that of a Gaussian mechanism with noise multiplier
``σ / (2C)``: (ε, δ)-DP by the exact analytic bound (Balle & Wang 2018;
:func:`rdlab.privacy.guarantees.gaussian_epsilon`). Give either ``sigma`` (with the
``delta`` at which to state ε) or a target ``(epsilon, delta)`` to calibrate σ.

REC blocks: coordinate blocks of ``block_size`` (the last one may be shorter), each with
the reference ``N(0, (σ² + s²) I)``. The extra variance ``s²`` minimizes the worst-case
Rényi-∞ divergence over the ball, ``b/2 · ln(1 + s²/σ²) + C²/(2 s²)`` nats for a block
of b coordinates carrying the whole norm, whose minimizer is
``s² = (C² + sqrt(C⁴ + 4 b C² σ²)) / (2b)``: the expected number of candidates of the
sampler (about ``e^D_inf``) is bounded for every input. The default block size is the
largest one whose worst-case D_inf stays below ``max_dinf_bits`` (12 bits: at most about
4,000 candidates per block).
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

__all__ = ["GaussianMechanism", "clip_l2", "gaussian_block_reference"]

_LOG2E = 1.0 / math.log(2.0)


def clip_l2(x: np.ndarray, radius: float) -> np.ndarray:
    """``x`` scaled onto the L2 ball of ``radius`` if it lies outside (shape kept)."""
    norm = float(np.linalg.norm(x))
    return x * (radius / norm) if norm > radius else x


def gaussian_block_reference(b: int, sigma: float, radius: float) -> tuple[float, float]:
    """(extra variance s², worst-case D_inf in nats) of the D_inf-optimal isotropic
    reference for a block of ``b`` coordinates, noise ``sigma``, inputs of L2 norm <=
    ``radius`` (see the module docstring)."""
    c2 = radius * radius
    s2 = (c2 + math.sqrt(c2 * c2 + 4.0 * b * c2 * sigma * sigma)) / (2.0 * b)
    return s2, 0.5 * b * math.log1p(s2 / (sigma * sigma)) + c2 / (2.0 * s2)


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
        max_dinf_bits: worst-case D_inf per block that sets the default block size.
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
            block_size = self.dim
            while block_size > 1 and self._worst_dinf(block_size, fixed_s2) > budget:
                block_size = (block_size + 1) // 2

        def reference(b: int) -> Gaussian:
            s2 = fixed_s2 or gaussian_block_reference(b, self.sigma, self.clip_norm)[0]
            return Gaussian(np.zeros(b), math.sqrt(self.sigma**2 + s2))

        def budget_bits(b: int, ref: Gaussian) -> float:
            # the index code is tuned to an isotropic input on the sphere of radius C
            s2 = float(ref.std[0]) ** 2 - self.sigma**2
            return _block_kl_nats(b, self.sigma, s2, self.clip_norm**2 * b / self.dim) * _LOG2E

        self._set_blocks(block_size, reference, budget_bits)

    def _worst_dinf(self, b: int, s2: float | None) -> float:
        """Worst-case D_inf (nats) of a block of b coordinates (extra variance s2)."""
        if s2 is None:
            return gaussian_block_reference(b, self.sigma, self.clip_norm)[1]
        return 0.5 * b * math.log1p(s2 / self.sigma**2) + self.clip_norm**2 / (2.0 * s2)

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
