"""The Barnes–Wall lattice BW16 by Construction B from RM(1,4):
BW16 = ∪_{c ∈ RM(1,4)} (c + 2·D16) = {x ∈ Z^16 : x ≡ c (mod 2), sum x ≡ 0 (mod 4)}.
In these integer coordinates: minimal norm 8, kissing number 4320, volume 2^12."""

from __future__ import annotations

import torch

from ..theory.lattice import KNOWN_G
from .base import hermite_normal_form
from .codes import rm14_codewords, rm14_generator
from .cosets import CodeCosetLattice

__all__ = ["BarnesWallLattice"]


def _bw16_generator() -> torch.Tensor:
    """Hermite normal form of the lattice spanned by 2·D16 (4e_0, 2(e_i − e_{i+1})) and the
    five RM(1,4) generator rows."""
    vectors = [[4] + [0] * 15]
    vectors += [[2 if j == i else -2 if j == i + 1 else 0 for j in range(16)] for i in range(15)]
    vectors += rm14_generator().tolist()
    return torch.tensor(hermite_normal_form(vectors, 16), dtype=torch.float64)


class BarnesWallLattice(CodeCosetLattice):
    """BW16: 32 cosets c + 2·D16, all evaluated exactly with one GEMM for the costs."""

    def __init__(self) -> None:
        super().__init__(
            "BW16",
            _bw16_generator(),
            KNOWN_G["BW16"],
            rm14_codewords(),
            code_step=1.0,
            coset_step=2.0,
            halves=((0.0, 0),),
        )
