"""The Leech lattice Λ24 scaled by sqrt(8) to integer coordinates (SPLAG ch. 4 §11):

    Λ24 = {x ≡ 2c (mod 4), c ∈ C24, sum x ≡ 0 (mod 8)}
        ∪ {x ≡ 1 + 2c (mod 4), c ∈ C24, sum x ≡ 4 (mod 8)}
        = ∪_{c} (2c + 4·D24) ∪ ∪_{c} (1 + 2c + 4·(D24 + e_0)),

with C24 the extended Golay code (:mod:`rdlab.lattice.codes`). In these coordinates:
minimal norm 32, kissing number 196560, volume 8^12."""

from __future__ import annotations

import torch

from ..theory.lattice import KNOWN_G
from .base import hermite_normal_form
from .codes import golay_codewords, golay_generator
from .cosets import CodeCosetLattice

__all__ = ["LeechLattice"]


def _leech_generator() -> torch.Tensor:
    """Hermite normal form of the lattice spanned by 4·D24 (8e_0, 4(e_i − e_{i+1})),
    2·(Golay generator rows) and (−3, 1, …, 1)."""
    vectors = [[8] + [0] * 23]
    vectors += [[4 if j == i else -4 if j == i + 1 else 0 for j in range(24)] for i in range(23)]
    vectors += (2 * golay_generator()).tolist()
    vectors.append([-3] + [1] * 23)
    return torch.tensor(hermite_normal_form(vectors, 24), dtype=torch.float64)


class LeechLattice(CodeCosetLattice):
    """Λ24: 8,192 cosets of 4·D24-like sets; the fast decoder ranks them with one GEMM and
    certified lower bounds (:mod:`rdlab.lattice.cosets`)."""

    def __init__(self) -> None:
        super().__init__(
            "Leech",
            _leech_generator(),
            KNOWN_G["Leech"],
            golay_codewords(),
            code_step=2.0,
            coset_step=4.0,
            halves=((0.0, 0), (1.0, 1)),
        )
