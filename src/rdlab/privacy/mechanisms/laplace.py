"""The Laplace mechanism on an L1 ball: ``Y = clip(x) + Laplace(0, β)^d``, ``β = 2C/ε``.

Domain: the L1 ball of radius ``clip_norm`` (C); :meth:`LaplaceMechanism.prepare`
scales a longer input onto its surface. Two inputs differ by at most ``2C`` in L1, so
``β = 2C / ε`` makes the output **pure ε-LDP**. REC blocks: coordinate blocks, each with
the reference ``Laplace(0, B)``, ``B = max(β, C / b)`` for a block of b coordinates
(the minimizer of the worst-case D_inf ``b ln(B / β) + C / B`` nats; D_inf is then at
most ``ε / 2`` nats when ``B = β``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...rec.distributions import Laplace, kl_bits
from ..accounting import Accountant
from ..guarantees import PureDP, laplace_scale
from .base import CoordinateMechanism, check_dim, check_positive, check_vector

__all__ = ["LaplaceMechanism", "clip_l1"]

_LOG2E = 1.0 / math.log(2.0)


def clip_l1(x: np.ndarray, radius: float) -> np.ndarray:
    """``x`` scaled onto the L1 ball of ``radius`` if it lies outside (shape kept)."""
    norm = float(np.abs(x).sum())
    return x * (radius / norm) if norm > radius else x


class LaplaceMechanism(CoordinateMechanism):
    """Laplace noise on an L1 ball (see the module docstring).

    Args:
        dim: input dimension d >= 1.
        epsilon: local ε (nats), > 0.
        clip_norm: L1 radius C of the domain (data units), > 0.
        block_size: coordinates per REC block (default: the whole vector).

    Raises:
        InputError: bad dimension, radius, ε or block size.
    """

    name = "laplace"

    def __init__(
        self, dim: int, *, epsilon: float, clip_norm: float = 1.0, block_size: int | None = None
    ) -> None:
        self.dim = check_dim(dim)
        self.clip_norm = check_positive("clip_norm", clip_norm)
        self.guarantee = PureDP(check_positive("epsilon", epsilon))
        self.scale = laplace_scale(self.guarantee.epsilon, 2.0 * self.clip_norm)

        def reference(b: int) -> Laplace:
            return Laplace(np.zeros(b), max(self.scale, self.clip_norm / b))

        def budget_bits(b: int, ref: Laplace) -> float:
            # tuned to an input spread evenly: |x_i| = C / d
            return kl_bits(Laplace(np.full(b, self.clip_norm / self.dim), self.scale), ref)

        self._set_blocks(self.dim if block_size is None else block_size, reference, budget_bits)

    def account(self, accountant: Accountant, count: int = 1) -> Accountant:
        """Compose ``count`` uses through the Laplace privacy-loss distribution."""
        return accountant.add_laplace(self.scale / (2.0 * self.clip_norm), count)

    def prepare(self, x: Any, generator: np.random.Generator) -> np.ndarray:
        """Inputs outside the L1 ball are scaled onto it (the only change made)."""
        return clip_l1(check_vector(x, self.dim), self.clip_norm)

    def _block_law(self, x_block: np.ndarray) -> Laplace:
        return Laplace(x_block, self.scale)

    def sample(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        return x + generator.laplace(0.0, self.scale, self.dim)

    def _noise_params(self) -> dict[str, Any]:
        return {"scale": self.scale}
