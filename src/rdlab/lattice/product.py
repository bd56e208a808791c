"""Cartesian products of lattices: block-diagonal generator, blockwise nearest point."""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from .base import Lattice

__all__ = ["ProductLattice"]


def _product_name(blocks: list[Lattice]) -> str:
    names = [b.name for b in blocks]
    if len(set(names)) == 1:
        return f"{names[0]}^{len(names)}"
    return "x".join(names)


def _product_g(blocks: list[Lattice]) -> float | None:
    """G of a product: E||e||² adds up, volumes multiply."""
    if any(b.known_G is None for b in blocks):
        return None
    n = sum(b.dim for b in blocks)
    second = sum(b.dim * b.known_G * b.volume ** (2.0 / b.dim) for b in blocks)  # type: ignore[operator]
    volume = math.prod(b.volume for b in blocks)
    return second / n / volume ** (2.0 / n)


class ProductLattice(Lattice):
    """Λ_1 × Λ_2 × … (name ``"E8^3"`` for a power, else ``"A2xD4"``); the generator is
    block diagonal (so still upper triangular) and the nearest point is found blockwise.
    The blocks keep their own scales."""

    def __init__(self, blocks: list[Lattice]) -> None:
        if len(blocks) < 1 or not all(isinstance(b, Lattice) for b in blocks):
            raise InputError("blocks", "must be a non-empty list of Lattice objects")
        self.blocks = list(blocks)
        super().__init__(
            _product_name(self.blocks),
            torch.block_diag(*[b.generator for b in self.blocks]),
            _product_g(self.blocks),
        )

    def _row_bytes(self, itemsize: int) -> int:
        return max(b._row_bytes(itemsize) for b in self.blocks) + 4 * self.dim * itemsize

    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        start = 0
        for b in self.blocks:
            parts.append(b._nearest_flat(x[:, start : start + b.dim].contiguous()))
            start += b.dim
        return torch.cat(parts, -1)
