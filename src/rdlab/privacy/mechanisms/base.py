"""The local randomizer protocol: what a privacy mechanism tells the REC coder.

A :class:`Mechanism` is a local randomizer ``x -> Y`` on a stated input domain (a ball of
a stated radius, the unit sphere, a finite alphabet). To be sent by relative entropy
coding it splits its output into **blocks** (independent given the input: coordinate
blocks of a product law, or one block) and gives, per block,

- ``references()[b]``: the shared proposal law of block b. It depends only on public
  parameters (dimension, clipping radius, noise level), never on the input;
- ``laws(x)[b]``: the output law of block b at input ``x``, a target the samplers of
  :mod:`rdlab.rec` accept against that reference (bounded density ratio for every
  input of the domain);
- ``kl_budget_bits()[b]``: a public KL figure (bits) that both sides use to pick the
  index code (the decoder never sees the input, and the code must not depend on it).

``join(parts)`` turns the per-block REC samples into the mechanism's output, and
``estimate(y)`` makes the unbiased estimate of the input that a server averages.
``sample(x, generator)`` is the mechanism itself, uncompressed (the baseline).
``local_guarantee()`` states the output's local DP for any two inputs of the domain.

Units: ε in nats (natural logarithm), δ a probability; KL and code lengths in bits;
sensitivities and clipping radii in the data's own units (L2 for Gaussian and PrivUnit,
L1 for Laplace).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ...errors import InputError
from ..accounting import Accountant
from ..guarantees import ApproxDP, PureDP

__all__ = [
    "CoordinateMechanism",
    "Mechanism",
    "check_dim",
    "check_positive",
    "check_vector",
]


def check_dim(dim: Any, *, minimum: int = 1, name: str = "dim") -> int:
    """``dim`` as an int >= ``minimum``; :class:`InputError` naming ``name`` otherwise."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < minimum:
        raise InputError(name, f"must be an integer >= {minimum}, got {dim!r}")
    return int(dim)


def check_positive(name: str, value: Any) -> float:
    """``value`` as a finite float > 0; :class:`InputError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(name, f"must be a number > 0, got {value!r}")
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise InputError(name, f"must be a finite number > 0, got {value!r}")
    return v


def check_vector(x: Any, dim: int, name: str = "x") -> np.ndarray:
    """``x`` as a finite float64 vector of shape (dim,); :class:`InputError` otherwise."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(name, f"must be a numeric vector, got {type(x).__name__}") from None
    if arr.shape != (dim,):
        raise InputError(name, f"must have shape ({dim},), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(name, "must be finite")
    return arr


class Mechanism(ABC):
    """A local randomizer that rdlab's REC samplers can send exactly (see module doc)."""

    #: registry name (``rdlab privacy bench --mechanism NAME``)
    name: ClassVar[str]
    #: input dimension
    dim: int

    @abstractmethod
    def local_guarantee(self) -> PureDP | ApproxDP:
        """The output's local DP guarantee for any two inputs of the domain."""

    @abstractmethod
    def prepare(self, x: Any, generator: np.random.Generator) -> np.ndarray:
        """Map a raw input into the domain (clipping, rounding to the sphere; stated by
        each mechanism): float64, shape (dim,). Raises :class:`InputError` on bad input."""

    @abstractmethod
    def references(self) -> list[Any]:
        """The public proposal law of each block."""

    @abstractmethod
    def laws(self, x: np.ndarray) -> list[Any]:
        """The output law of each block at a prepared input ``x``."""

    @abstractmethod
    def kl_budget_bits(self) -> list[float]:
        """Public KL figure per block (bits) that sets the index code."""

    @abstractmethod
    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        """Per-block samples (each (..., block dim)) -> mechanism outputs (..., out dim)."""

    @abstractmethod
    def sample(self, x: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        """The uncompressed mechanism at a prepared input: its output (out dim,)."""

    def estimate(self, y: np.ndarray) -> np.ndarray:
        """Unbiased estimate of the input from outputs ``y`` (..., out dim); the identity
        unless a mechanism says otherwise."""
        return np.asarray(y, dtype=np.float64)

    def ppr_message_guarantee(self, alpha: float, delta: float | None = None) -> Any:
        """The local guarantee of this mechanism's PPR message (indices with the public
        candidates) for privacy parameter ``alpha``, or ``None`` when none is proved.

        Pure ε-LDP mechanisms: **2αε-LDP** (given the candidates, each PPR weight
        ``(r(Z_k)/T_k)^α`` moves by at most ``e^(αε)`` between two inputs, the selection
        probability by at most ``e^(2αε)``; blocks multiply, and their ε add up to the
        vector's). Mechanisms without a pure guarantee override this or return None.
        ``delta`` is where an approximate statement is made (default: the mechanism's)."""
        out = self.local_guarantee()
        if isinstance(out, PureDP):
            return PureDP(2.0 * alpha * out.epsilon)
        return None

    def account(self, accountant: Accountant, count: int = 1) -> Accountant:
        """Add ``count`` uses of this mechanism's local guarantee to ``accountant``."""
        return accountant.add_guarantee(self.local_guarantee(), count)

    @property
    def pure(self) -> bool:
        """Whether the local guarantee is pure ε-DP (δ = 0)."""
        return isinstance(self.local_guarantee(), PureDP)

    def direct_bits(self) -> int:
        """Bits per client of the uncompressed output: 32-bit floats per output value."""
        return 32 * int(sum(self.block_sizes()))

    def block_sizes(self) -> list[int]:
        """Dimension of each block's REC sample."""
        return [int(r.dim) for r in self.references()]

    def to_json(self) -> dict[str, Any]:
        """Public parameters (what a decoder must know), JSON-ready."""
        return {"mechanism": self.name, "dim": self.dim, **self._params()}

    def _params(self) -> dict[str, Any]:
        return {}


class CoordinateMechanism(Mechanism):
    """A product mechanism (independent noise per coordinate) sent in blocks of
    ``block_size`` consecutive coordinates (the last block may be shorter). Subclasses
    call :meth:`_set_blocks` once and give :meth:`_block_law`."""

    clip_norm: float
    block_size: int
    guarantee: PureDP | ApproxDP

    def _set_blocks(
        self,
        block_size: Any,
        reference: Callable[[int], Any],
        budget_bits: Callable[[int, Any], float],
    ) -> None:
        """Lay out the blocks: ``reference(b)`` is the public law of a block of b
        coordinates, ``budget_bits(b, reference)`` its KL figure for the index code."""
        self.block_size = check_dim(block_size, name="block_size")
        if self.block_size > self.dim:
            raise InputError("block_size", f"must be <= dim = {self.dim}")
        self._slices = [
            slice(i, min(i + self.block_size, self.dim))
            for i in range(0, self.dim, self.block_size)
        ]
        self._refs = [reference(sl.stop - sl.start) for sl in self._slices]
        self._budgets = [
            float(budget_bits(sl.stop - sl.start, ref))
            for sl, ref in zip(self._slices, self._refs, strict=True)
        ]

    @abstractmethod
    def _block_law(self, x_block: np.ndarray) -> Any:
        """The output law of one block at its input coordinates."""

    def local_guarantee(self) -> PureDP | ApproxDP:
        return self.guarantee

    def references(self) -> list[Any]:
        return list(self._refs)

    def laws(self, x: np.ndarray) -> list[Any]:
        return [self._block_law(x[sl]) for sl in self._slices]

    def kl_budget_bits(self) -> list[float]:
        return list(self._budgets)

    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts], axis=-1)

    def _params(self) -> dict[str, Any]:
        return {
            "clip_norm": self.clip_norm,
            "block_size": self.block_size,
            "local": self.guarantee.to_json(),
            **self._noise_params(),
        }

    def _noise_params(self) -> dict[str, Any]:
        return {}
