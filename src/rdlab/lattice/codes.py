"""Binary codes behind BW16 and the Leech lattice: Reed–Muller RM(1,4) and the extended
Golay code C24, built from generator matrices; all codewords as 0/1 tensors.

- RM(1,4): length 16, 32 codewords, weights 0 (1), 8 (30), 16 (1). Generator rows: the
  all-ones word and, for i = 0..3, bit i of the position index 0..15.
- Extended Golay code: length 24, 4096 codewords, weights 0, 8, 12, 16, 24 with counts
  1, 759, 2576, 759, 1. Generator: the 12 cyclic shifts of
  g(x) = 1 + x² + x⁴ + x⁵ + x⁶ + x¹⁰ + x¹¹ (a factor of x²³ − 1 over GF(2), the binary
  Golay code of length 23), each extended by an overall parity bit.
"""

from __future__ import annotations

import functools

import torch

__all__ = [
    "all_codewords",
    "golay_codewords",
    "golay_generator",
    "rm14_codewords",
    "rm14_generator",
]

_GOLAY_POLY = (0, 2, 4, 5, 6, 10, 11)


def rm14_generator() -> torch.Tensor:
    """Generator matrix of RM(1,4): int64 0/1, shape (5, 16)."""
    pos = torch.arange(16)
    rows = [torch.ones(16, dtype=torch.int64)] + [(pos >> i) & 1 for i in range(4)]
    return torch.stack(rows)


def golay_generator() -> torch.Tensor:
    """Generator matrix of the extended Golay code: int64 0/1, shape (12, 24)."""
    g = torch.zeros(12, 24, dtype=torch.int64)
    for shift in range(12):
        for d in _GOLAY_POLY:
            g[shift, shift + d] = 1
    g[:, 23] = g[:, :23].sum(1) % 2
    return g


def all_codewords(generator: torch.Tensor) -> torch.Tensor:
    """Every codeword m @ generator (mod 2) of a binary linear code, message m = 0..2^k−1
    with bit i of m as the coefficient of row i: int64 0/1, shape (2^k, n)."""
    k = generator.shape[0]
    messages = (torch.arange(2**k)[:, None] >> torch.arange(k)) & 1
    return (messages @ generator) % 2


@functools.cache
def rm14_codewords() -> torch.Tensor:
    """All 32 codewords of RM(1,4): int64 0/1, shape (32, 16)."""
    return all_codewords(rm14_generator())


@functools.cache
def golay_codewords() -> torch.Tensor:
    """All 4096 codewords of the extended Golay code: int64 0/1, shape (4096, 24)."""
    return all_codewords(golay_generator())
