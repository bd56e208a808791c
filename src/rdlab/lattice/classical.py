"""The classical lattices Z^n, A_n, D_n and D_n* (Conway & Sloane, "Fast quantizing and
decoding algorithms for lattice quantizers and codes", IEEE Trans. Inf. Theory 28(2),
1982; SPLAG ch. 20). Rounding ties go to the even integer (``torch.round``)."""

from __future__ import annotations

import torch

from ..errors import InputError
from ..theory.lattice import KNOWN_G
from .base import Lattice, hermite_normal_form

__all__ = [
    "AnLattice",
    "DnDualLattice",
    "DnLattice",
    "IntegerLattice",
    "nearest_dn",
]


def _tensor(rows: list[list[int]], denominator: int = 1) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64) / denominator


def nearest_dn(x: torch.Tensor) -> torch.Tensor:
    """Nearest point of D_n = {y ∈ Z^n : sum y even} to each row of ``x`` (N, n).

    Round every coordinate; if the sum is odd, re-round the coordinate with the largest
    rounding error the other way (the first such coordinate on ties)."""
    f = torch.round(x)
    delta = x - f
    odd = (f.sum(-1) % 2) != 0
    worst = delta.abs().argmax(-1, keepdim=True)
    d = delta.gather(-1, worst)
    step = torch.where(d >= 0, 1.0, -1.0).to(x.dtype) * odd[:, None].to(x.dtype)
    return f.scatter_add(-1, worst, step)


class IntegerLattice(Lattice):
    """Z^n (name ``"Z"`` for n = 1, else ``"Z^n"``): generator the identity, volume 1."""

    def __init__(self, n: int) -> None:
        super().__init__("Z" if n == 1 else f"Z^{n}", torch.eye(n, dtype=torch.float64))
        self.known_G = KNOWN_G["Z"]

    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)


class DnLattice(Lattice):
    """D_n (n >= 3): integer vectors with an even coordinate sum; minimal norm 2,
    kissing number 2n(n−1), volume 2. Generator: the Hermite normal form of the basis
    2e_0, e_i − e_{i+1} (rows (1, 1, 0, …), (0, 1, 1, 0, …), …, (0, …, 0, 2))."""

    def __init__(self, n: int) -> None:
        vectors = [[2 if j == 0 else 0 for j in range(n)]]
        vectors += [[1 if j == i else -1 if j == i + 1 else 0 for j in range(n)] for i in range(n)]
        super().__init__(f"D{n}", _tensor(hermite_normal_form(vectors[:n], n)))
        self.known_G = KNOWN_G.get(self.name)

    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        return nearest_dn(x)


class DnDualLattice(Lattice):
    """D_n* = Z^n ∪ (Z^n + ½·1) (n >= 3), volume ½. Generator rows (½, …, ½), e_1, …,
    e_{n−1}. D4* is similar to D4, so it shares D4's normalized second moment."""

    def __init__(self, n: int) -> None:
        vectors = [[1] * n] + [[2 if j == i else 0 for j in range(n)] for i in range(1, n)]
        super().__init__(f"D{n}*", _tensor(hermite_normal_form(vectors, n), 2))
        self.known_G = KNOWN_G["D4"] if n == 4 else None

    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.round(x)
        b = torch.round(x - 0.5) + 0.5
        closer = ((x - a) ** 2).sum(-1) <= ((x - b) ** 2).sum(-1)
        return torch.where(closer[:, None], a, b)


class AnLattice(Lattice):
    """A_n = {y ∈ Z^{n+1} : sum y = 0} (n >= 1), minimal norm 2, volume sqrt(n+1), embedded
    in R^n by an orthonormal basis Q (n+1, n) of the sum-zero hyperplane: a point
    y ∈ Z^{n+1} is x = y @ Q ∈ R^n.

    Q is chosen so that the image of the basis b_i = e_i − e_{i+1} (i = 0..n−1) is upper
    triangular: the QR factorization of the reversed basis, columns reversed, signs fixed
    to a positive diagonal (entries below the diagonal are zero up to rounding and set to
    exactly zero). For A2 the generator rows are (sqrt(3/2), −sqrt(1/2)) and (0, sqrt(2)).

    Decoding: the Conway–Sloane A_n algorithm in the (n+1)-dimensional coordinates
    (round, then fix the sum by moving the |Δ| coordinates with the most extreme rounding
    errors; stable sort, so ties go to the lower index), coefficients
    k_i = y_0 + … + y_i, and the point k @ generator."""

    def __init__(self, n: int) -> None:
        basis = torch.zeros(n, n + 1, dtype=torch.float64)
        idx = torch.arange(n)
        basis[idx, idx] = 1.0
        basis[idx, idx + 1] = -1.0
        q, r = torch.linalg.qr(basis.flip(0).T)  # basis.flip(0) @ q = r.T, lower triangular
        q = q * torch.sign(torch.diagonal(r))
        q = q.flip(1)
        g = torch.triu(basis @ q)
        super().__init__(f"A{n}", g)
        self.known_G = KNOWN_G.get(self.name) if n != 1 else KNOWN_G["Z"]
        self._embedding = q  # (n+1, n), orthonormal columns

    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        n = self.dim
        q = self._embedding.to(x.dtype)
        z = x @ q.T  # (N, n+1) on the sum-zero hyperplane
        f = torch.round(z)
        deficiency = f.sum(-1, keepdim=True)  # Δ = sum of the rounded coordinates
        delta = z - f
        order = torch.sort(delta, dim=-1, stable=True).indices
        rank = torch.empty_like(order).scatter_(-1, order, torch.arange(n + 1).expand_as(order))
        rank = rank.to(x.dtype)
        down = (deficiency > 0) & (rank < deficiency)  # most negative errors move down
        up = (deficiency < 0) & (rank >= n + 1 + deficiency)  # most positive errors move up
        f = f - down.to(x.dtype) + up.to(x.dtype)
        k = torch.cumsum(f[:, :n].to(torch.float64), -1)
        return self._points_flat(k, self._native_generator).to(x.dtype)


def check_dimension(name: str, n: int, minimum: int) -> None:
    """Raise InputError unless ``n`` is an integer >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise InputError("dim", f"{name} needs an integer dimension >= {minimum}, got {n!r}")
