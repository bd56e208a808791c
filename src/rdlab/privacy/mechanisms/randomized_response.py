"""k-ary randomized response: keep the symbol with probability ``e^ε / (e^ε + k - 1)``,
otherwise report one of the other ``k - 1`` symbols uniformly. Pure **ε-LDP** (the
largest likelihood ratio between two inputs is ``e^ε``). One REC block: a
:class:`rdlab.rec.distributions.Categorical` against the uniform law on the k symbols
(D_inf = ``ln(k e^ε / (e^ε + k - 1))`` nats, the same for every input).

Inputs are symbols ``0 .. k-1`` given as a length-1 vector (or an integer); the
unbiased estimate of the input's one-hot vector (length k) is
``(onehot(y) - b) / (a - b)`` with ``a`` the keep probability and ``b`` the others'.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import InputError
from ...rec.distributions import Categorical, kl_bits
from ..accounting import Accountant
from ..guarantees import PureDP
from .base import Mechanism, check_dim, check_positive

__all__ = ["RandomizedResponse"]


class RandomizedResponse(Mechanism):
    """k-ary randomized response (see the module docstring).

    Args:
        k: alphabet size >= 2.
        epsilon: local ε (nats), > 0.

    Raises:
        InputError: bad k or ε.
    """

    name = "randomized-response"

    def __init__(self, k: int, *, epsilon: float) -> None:
        self.k = check_dim(k, minimum=2, name="k")
        self.dim = 1
        self.guarantee = PureDP(check_positive("epsilon", epsilon))
        e = math.exp(min(self.guarantee.epsilon, 700.0))
        self.keep = e / (e + self.k - 1)
        self.other = 1.0 / (e + self.k - 1)

    def local_guarantee(self) -> PureDP:
        return self.guarantee

    def account(self, accountant: Accountant, count: int = 1) -> Accountant:
        return accountant.add_randomized_response(self.guarantee.epsilon, self.k, count)

    def prepare(self, x: Any, generator: np.random.Generator) -> np.ndarray:
        v = np.atleast_1d(np.asarray(x))
        if v.shape != (1,) or v.dtype.kind not in "iuf" or not np.isfinite(v).all():
            raise InputError("x", f"must be one symbol in 0..{self.k - 1}, got {x!r}")
        s = float(v[0])
        if s != math.floor(s) or not 0 <= s < self.k:
            raise InputError("x", f"must be one symbol in 0..{self.k - 1}, got {x!r}")
        return np.array([s])

    def references(self) -> list[Any]:
        return [Categorical.uniform(self.k)]

    def laws(self, x: np.ndarray) -> list[Any]:
        probs = np.full(self.k, self.other)
        probs[int(x[0])] = self.keep
        return [Categorical(probs / probs.sum())]

    def kl_budget_bits(self) -> list[float]:
        return [kl_bits(self.laws(np.zeros(1))[0], self.references()[0])]

    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.asarray(parts[0], dtype=np.float64)

    def sample(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        probs = self.laws(x)[0].probs
        return np.array([float(generator.choice(self.k, p=probs))])

    def direct_bits(self) -> int:
        """ceil(log2 k) bits: the symbol itself."""
        return max(1, math.ceil(math.log2(self.k)))

    def estimate(self, y: np.ndarray) -> np.ndarray:
        """Unbiased estimates of the one-hot input, shape (..., k), from symbols (..., 1)."""
        sym = np.asarray(y, dtype=np.float64)[..., 0].astype(np.int64)
        onehot = (sym[..., None] == np.arange(self.k)).astype(np.float64)
        return (onehot - self.other) / (self.keep - self.other)

    def _params(self) -> dict[str, Any]:
        return {"k": self.k, "keep": self.keep, "local": self.guarantee.to_json()}
