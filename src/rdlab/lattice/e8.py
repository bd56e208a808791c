"""The Gosset lattice E8 = D8 ∪ (D8 + ½·1) in its standard (half-integer) coordinates:
minimal norm 2, kissing number 240, volume 1."""

from __future__ import annotations

import torch

from ..theory.lattice import KNOWN_G
from .base import Lattice, hermite_normal_form
from .classical import nearest_dn

__all__ = ["E8Lattice"]


def _e8_generator() -> torch.Tensor:
    """Hermite normal form of 2·E8 (spanned by 2·D8 and 1), halved: rows like
    (½, …, ½), (0, 1, 0, …, 0, 1), …, (0, …, 0, 2)."""
    vectors = [[4] + [0] * 7]
    vectors += [[2 if j == i else -2 if j == i + 1 else 0 for j in range(8)] for i in range(7)]
    vectors.append([1] * 8)
    return torch.tensor(hermite_normal_form(vectors, 8), dtype=torch.float64) / 2


class E8Lattice(Lattice):
    """E8: decode D8 on x and on x − ½ (Conway & Sloane 1982), keep the nearer point
    (the D8 point on ties)."""

    def __init__(self) -> None:
        super().__init__("E8", _e8_generator(), KNOWN_G["E8"])

    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        a = nearest_dn(x)
        b = nearest_dn(x - 0.5) + 0.5
        closer = ((x - a) ** 2).sum(-1) <= ((x - b) ** 2).sum(-1)
        return torch.where(closer[:, None], a, b)
